/**
 * DNS forwarding of names outside the VPN domain, over real UDP on loopback against a fake upstream
 * resolver this test starts (never a real one): forwarded answers keep the client's id, a silent
 * upstream gives SERVFAIL after the timeout, answers are cached for their TTL (LRU, capped), the
 * in-flight cap answers SERVFAIL at once, and replies from the wrong sender are dropped; the
 * responder's and the forwarder's counters reach /metrics, `vpn status` and the CLI.
 */
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { test, type TestContext } from 'node:test'
import dnsPacket from 'dns-packet'
import { loadConfig } from '../../src/config/load.js'
import { Registry } from 'prom-client'
import { formatDns } from '../../src/cli/commands/vpn/handler.js'
import { createDnsResponder, dnsStatsOf, type DnsResponder } from '../../src/vpn/dns.js'
import { registerVpnMetrics } from '../../src/vpn/metrics.js'
import { buildStatus } from '../../src/vpn/status.js'
import { createDnsForwarder, parseResolvConf, parseUpstream, toForwardOptions } from '../../src/vpn/dns-forward.js'
import { pause } from '../helpers/wait.js'

type Decoded = dnsPacket.DecodedPacket & { rcode?: string }
const decode = (b: Buffer): Decoded => dnsPacket.decode(b) as Decoded

function query (name: string, id: number, type: 'A' | 'AAAA' = 'A'): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] })
}

interface FakeUpstream { port: number, asked: Map<string, number>, total: () => number }

/** A resolver on 127.0.0.1 with canned answers; `slow.test` is never answered, `spoof.test` is answered from another port. */
async function fakeUpstream (t: TestContext): Promise<FakeUpstream> {
  const sock = createSocket('udp4')
  const other = createSocket('udp4')
  const asked = new Map<string, number>()
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg)
    const question = q.questions![0]!
    asked.set(question.name, (asked.get(question.name) ?? 0) + 1)
    const reply = (flags: number, answers: dnsPacket.Answer[], authorities: dnsPacket.Answer[] = []): Buffer =>
      dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | flags, questions: [question], answers, authorities })
    const n = question.name
    if (n === 'slow.test') return
    if (n === 'spoof.test') { other.send(reply(0, [{ type: 'A', name: n, ttl: 60, data: '203.0.113.66' }]), rinfo.port, rinfo.address); return }
    if (n === 'nx.test') {
      sock.send(reply(3, [], [{ type: 'SOA', name: 'test', ttl: 30, data: { mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 20 } }]), rinfo.port, rinfo.address)
      return
    }
    const ttl = n.startsWith('short') ? 1 : 60
    sock.send(reply(0, [{ type: 'A', name: n, ttl, data: `192.0.2.${asked.size}` }]), rinfo.port, rinfo.address)
  })
  sock.bind(0, '127.0.0.1')
  other.bind(0, '127.0.0.1')
  await Promise.all([once(sock, 'listening'), once(other, 'listening')])
  t.after(() => { sock.close(); other.close() })
  return { port: sock.address().port, asked, total: () => [...asked.values()].reduce((a, b) => a + b, 0) }
}

/** Sends one query to `port` on 127.0.0.1 and returns the reply (bounded). */
async function ask (sock: Socket, port: number, q: Buffer): Promise<Decoded> {
  const reply = once(sock, 'message', { signal: AbortSignal.timeout(10_000) })
  sock.send(q, port, '127.0.0.1')
  const [msg] = await reply as [Buffer]
  return decode(msg)
}

/** The responder for domain `dmsnet` (it knows `alpha`) forwarding to a fresh fake upstream, and a client socket. */
async function responderWithUpstream (t: TestContext): Promise<{ up: FakeUpstream, dns: DnsResponder, client: Socket, port: number }> {
  const up = await fakeUpstream(t)
  const dns = await createDnsResponder({
    domain: 'dmsnet',
    addresses: ['127.0.0.1'],
    port: 0,
    resolve: (n) => n === 'alpha' ? { ipv4: '100.64.0.7' } : undefined,
    forward: { upstreams: [{ address: '127.0.0.1', port: up.port }], timeoutMs: 300 }
  })
  const client = createSocket('udp4')
  t.after(async () => { client.close(); await dns.close() })
  return { up, dns, client, port: dns.bound[0]!.port }
}

test('the VPN responder forwards foreign names to the upstream, keeps its own domain, and caches', async (t) => {
  const { up, dns, client, port } = await responderWithUpstream(t)

  const fwd = await ask(client, port, query('www.example.test', 4242))
  assert.equal(fwd.id, 4242, 'the client gets its own id back')
  assert.equal(fwd.rcode, 'NOERROR')
  assert.deepEqual(fwd.answers?.map(a => (a as { data: string }).data), ['192.0.2.1'])
  assert.equal(up.asked.get('www.example.test'), 1)

  // cache hit: same answer, new id, the upstream is not asked again
  const again = await ask(client, port, query('WWW.example.test.', 77))
  assert.equal(again.id, 77)
  assert.deepEqual(again.answers?.map(a => (a as { data: string }).data), ['192.0.2.1'])
  assert.equal(up.asked.get('www.example.test'), 1)
  assert.equal(dns.forwarder?.stats.cacheHits, 1)

  // names in the VPN domain are answered here and never leave
  const local = await ask(client, port, query('alpha.dmsnet', 5))
  assert.deepEqual(local.answers?.map(a => (a as { data: string }).data), ['100.64.0.7'])
  assert.equal((await ask(client, port, query('nobody.dmsnet', 6))).rcode, 'NXDOMAIN')
  assert.equal(up.total(), 1, 'a VPN-domain name was forwarded')

  // a silent upstream: SERVFAIL after the timeout, counted
  const slow = await ask(client, port, query('slow.test', 8))
  assert.equal(slow.rcode, 'SERVFAIL')
  assert.equal(slow.id, 8)
  assert.equal(dns.forwarder?.stats.timeouts, 1)

  // NXDOMAIN from upstream passes through and is cached (negative TTL from the SOA)
  assert.equal((await ask(client, port, query('nx.test', 9))).rcode, 'NXDOMAIN')
  assert.equal((await ask(client, port, query('nx.test', 10))).rcode, 'NXDOMAIN')
  assert.equal(up.asked.get('nx.test'), 1)

  // forwarding off: foreign names are NXDOMAIN and nothing is sent (positive control above)
  const off = await createDnsResponder({ domain: 'dmsnet', addresses: ['127.0.0.1'], port: 0, resolve: () => undefined, forward: false })
  t.after(async () => { await off.close() })
  assert.equal(off.forwarder, undefined)
  const before = up.total()
  assert.equal((await ask(client, off.bound[0]!.port, query('other.example.test', 11))).rcode, 'NXDOMAIN')
  assert.equal(up.total(), before)
})

test('forwarder bounds: TTL expiry, LRU size cap, in-flight cap, replies from the wrong sender', async (t) => {
  const up = await fakeUpstream(t)
  let clock = 1_000_000
  const f = createDnsForwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }], timeoutMs: 400, cacheSize: 2, maxInFlight: 2, now: () => clock })
  t.after(async () => { await f.close() })

  // TTL: a 1 s record is served from the cache until it expires, then asked again
  await f.forward(query('short.test', 1))
  await f.forward(query('short.test', 2))
  assert.equal(up.asked.get('short.test'), 1)
  const aged = decode(await f.forward(query('short.test', 3)))
  assert.equal((aged.answers![0] as { ttl: number }).ttl, 1)
  clock += 1500
  await f.forward(query('short.test', 4))
  assert.equal(up.asked.get('short.test'), 2, 'an expired answer was served')

  // size cap: a third name evicts the least recently used
  await f.forward(query('a.test', 5))
  await f.forward(query('b.test', 6))
  assert.equal(f.stats.cacheEntries, 2)
  await f.forward(query('b.test', 7))
  assert.equal(up.asked.get('b.test'), 1)
  await f.forward(query('short.test', 8))
  assert.equal(up.asked.get('short.test'), 3, 'short.test should have been evicted by a and b')

  // in flight: two silent queries fill the cap, a third is SERVFAIL at once without asking upstream
  const pending = [f.forward(query('slow.test', 9)), f.forward(query('slow.test', 10))]
  const asked = up.total()
  const busy = decode(await f.forward(query('c.test', 11)))
  assert.equal(busy.rcode, 'SERVFAIL')
  assert.equal(f.stats.busy, 1)
  assert.equal(up.asked.get('c.test'), undefined)
  for (const p of await Promise.all(pending)) assert.equal(decode(p).rcode, 'SERVFAIL')
  assert.ok(up.total() >= asked)

  // an answer from another port is not taken: dropped, counted, and the query times out
  const spoofed = decode(await f.forward(query('spoof.test', 12)))
  assert.equal(spoofed.rcode, 'SERVFAIL')
  assert.ok(f.stats.badReplies >= 1)
  assert.equal(f.stats.timeouts, 3)
  // garbage in is SERVFAIL out, never a throw; the forwarder still works after all of the above
  const garbage = decode(await f.forward(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])))
  assert.equal(garbage.rcode, 'SERVFAIL')
  assert.equal(garbage.id, 0x0102)
  assert.equal(decode(await f.forward(query('d.test', 13))).rcode, 'NOERROR')
})

test('close ends queries waiting upstream at once (SERVFAIL, not a timeout) and the responder stays quiet', async (t) => {
  const up = await fakeUpstream(t)
  const f = createDnsForwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }], timeoutMs: 60_000 })
  const waiting = f.forward(query('slow.test', 21))
  await until(() => up.asked.get('slow.test') === 1)
  await f.close()
  const r = decode(await waiting)
  assert.equal(r.rcode, 'SERVFAIL')
  assert.equal(f.stats.timeouts, 0, 'it ended by the timeout, not by close')
  assert.equal(decode(await f.forward(query('a.test', 22))).rcode, 'SERVFAIL')
  assert.equal(up.asked.get('a.test'), undefined, 'a closed forwarder still sent a query')

  // the responder: a forwarded query still out when it closes is answered into nothing, no throw
  const dns = await createDnsResponder({ domain: 'dmsnet', addresses: ['127.0.0.1'], port: 0, resolve: () => undefined, forward: { upstreams: [{ address: '127.0.0.1', port: up.port }], timeoutMs: 60_000 } })
  const client = createSocket('udp4')
  t.after(() => { client.close() })
  client.send(query('slow.test', 23), dns.bound[0]!.port, '127.0.0.1')
  await until(() => up.asked.get('slow.test') === 2)
  await dns.close()
  assert.equal(dns.forwarder?.stats.timeouts, 0)
})

async function until (cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await pause(10) // polling interval of a bounded wait for a condition
  }
}

test('resolv.conf, upstream strings and the vpn.dnsForward config', () => {
  assert.deepEqual(parseResolvConf('# c\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nsearch x\nnameserver ::1 # v6\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n'),
    [{ address: '10.0.0.2', port: 53 }, { address: '::1', port: 53 }, { address: '1.1.1.1', port: 53 }])
  assert.deepEqual(parseUpstream('192.0.2.1:5353'), { address: '192.0.2.1', port: 5353 })
  assert.deepEqual(parseUpstream('[fd00::53]:53'), { address: 'fd00::53', port: 53 })
  assert.deepEqual(parseUpstream('fd00::53'), { address: 'fd00::53', port: 53 })
  assert.equal(parseUpstream('resolver.example'), undefined)
  assert.equal(parseUpstream('1.2.3.4:70000'), undefined)

  const c = loadConfig({ flags: { 'vpn.dnsForward.upstreams': '192.0.2.1:5353,[fd00::53]:53', 'vpn.dnsForward.timeoutMs': '500' } })
  assert.deepEqual(toForwardOptions(c.vpn.dnsForward), { enabled: true, timeoutMs: 500, maxInFlight: 256, cacheSize: 1024, maxTtlSec: 300, upstreams: [{ address: '192.0.2.1', port: 5353 }, { address: 'fd00::53', port: 53 }] })
  assert.throws(() => loadConfig({ flags: { 'vpn.dnsForward.upstreams': 'resolver.example' } }), { name: 'ConfigError' })
  // the responder never forwards to its own addresses (a host whose resolv.conf names it would loop)
  const f = createDnsForwarder({ upstreams: [{ address: '100.64.0.1', port: 53 }, { address: '100.64.0.1', port: 5353 }], exclude: [{ address: '100.64.0.1', port: 53 }] })
  assert.deepEqual(f.upstreams, [{ address: '100.64.0.1', port: 5353 }])
  void f.close()
})

test('the responder\'s and the forwarder\'s counters reach Prometheus and vpn status', async (t) => {
  const { dns, client, port } = await responderWithUpstream(t)
  const registry = new Registry()
  let running = true
  registerVpnMetrics(registry, { links: () => [], dropNoRoute: () => 0, dropNotMember: () => 0, refused: () => 0, dns: () => running ? dnsStatsOf(dns) : undefined })
  const read = async (name: string, label: string): Promise<Record<string, number>> =>
    Object.fromEntries(((await registry.getSingleMetric(name)?.get())?.values ?? []).map(v => [String(v.labels[label]), v.value]))

  assert.equal((await ask(client, port, query('alpha.dmsnet', 1))).rcode, 'NOERROR')
  assert.equal((await ask(client, port, query('nobody.dmsnet', 2))).rcode, 'NXDOMAIN')
  assert.equal((await ask(client, port, query('www.example.test', 3))).rcode, 'NOERROR')
  assert.equal((await ask(client, port, query('www.example.test', 4))).rcode, 'NOERROR') // from the cache
  assert.equal((await ask(client, port, query('slow.test', 5))).rcode, 'SERVFAIL') // the upstream never answers

  assert.deepEqual(await read('dmsnet_vpn_dns_queries', 'result'), { received: 2, answered: 1, nxdomain: 1, malformed: 0 })
  assert.deepEqual(await read('dmsnet_vpn_dns_forward', 'counter'), { forwarded: 2, cache_hits: 1, timeouts: 1, busy: 0, servfail: 1, bad_replies: 0, cache_entries: 1 })

  // vpn status carries the same counters, and the CLI prints them
  const status = buildStatus({ selfPeerId: 'p', running: true, applied: undefined, links: new Map(), dns: dnsStatsOf(dns), dropNoRoute: 0, dropNotMember: 0, policy: { refused: 0, invitationsRefused: 0, switches: 0, routesStripped: 0, refusedRepeats: 0 }, jobs: [], portMappings: [] })
  assert.deepEqual(status.dns, { queries: 2, answered: 1, nxdomain: 1, malformed: 0, forward: { forwarded: 2, cacheHits: 1, timeouts: 1, busy: 0, servfail: 1, badReplies: 0, cacheEntries: 1 } })
  assert.match(formatDns(status.dns!), /queries 2, answered 1, nxdomain 1, malformed 0; forwarded 2, cache hits 1 \(1 cached\), timeouts 1, busy 0, servfail 1/)

  // without a responder (device closed) the series are gone, not frozen at their last values
  running = false
  assert.deepEqual(await read('dmsnet_vpn_dns_forward', 'counter'), {})
})

// VPN end to end, three nodes each in its own network namespace (libp2p over veth links):
// all-to-all ping, DNS, a forged source dropped and counted, removal and re-adding.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { requireRoot } from '../helpers/root.js'
import { createVpnWorld, specOf, type VpnNodeProc } from './vpn-harness.js'
import type { VpnStatus } from '../../src/vpn/types.js'
import { pause } from '../helpers/wait.js'

async function ping (n: VpnNodeProc, world: { net: { status: (ns: string, c: string, a: string[], o?: { timeoutMs?: number }) => Promise<{ code: number, stdout: string }> } }, addr: string, count = 2): Promise<boolean> {
  const r = await world.net.status(n.ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', addr], { timeoutMs: 15_000 })
  return r.code === 0
}

async function waitUntil (fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await fn()) return
    await pause(200) // polling interval of a bounded wait for a condition
  }
  throw new Error(`timed out waiting for ${what}`)
}

test('vpn: three namespaces, ping, DNS, anti-spoofing, remove and re-add', { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return
  const world = await createVpnWorld(t, ['a', 'b', 'c'])
  t.after(async () => { await world.cleanup() })
  const [a, b, c] = world.nodes as [VpnNodeProc, VpnNodeProc, VpnNodeProc]

  const st = await a.call<VpnStatus>('start', { peers: [specOf(b), specOf(c)] })
  assert.equal(st.state, 'running')
  assert.equal(st.peers.length, 3)
  const addr = new Map(st.peers.map(p => [p.peerId, p]))
  assert.equal(new Set(st.peers.map(p => p.ipv4)).size, 3, 'distinct IPv4 addresses')
  const ipOf = (n: VpnNodeProc): string => addr.get(n.peerId)!.ipv4
  const ip6Of = (n: VpnNodeProc): string => addr.get(n.peerId)!.ipv6

  // Every member ends up with the same membership.
  await waitUntil(async () => {
    const all = await Promise.all([b, c].map(async n => await n.call<VpnStatus>('status')))
    return all[0]!.state === 'running' && all[0]!.version === st.version && all[0]!.ipv4 === ipOf(b) &&
      all[1]!.state === 'running' && all[1]!.version === st.version && all[1]!.ipv4 === ipOf(c)
  }, 20_000, 'members to apply the membership')

  await t.test('all-to-all ping over IPv4 and IPv6', async () => {
    for (const from of [a, b, c]) {
      for (const to of [a, b, c]) {
        if (from === to) continue
        await waitUntil(async () => await ping(from, world, ipOf(to), 1), 20_000, `${from.label} -> ${to.label}`)
        assert.ok(await ping(from, world, ipOf(to)), `${from.label} pings ${to.label}`)
        assert.ok(await ping(from, world, ip6Of(to)), `${from.label} pings ${to.label} over IPv6`)
      }
    }
    const s = await a.call<VpnStatus>('status')
    for (const p of s.peers.filter(x => !x.self)) {
      assert.equal(p.path, 'direct')
      assert.ok(p.rxPackets > 0 && p.txPackets > 0, 'counters move')
    }
  })

  await t.test('DNS names resolve (A and AAAA) on the VPN address', async () => {
    // A raw DNS query from b's namespace to a's VPN address (no resolver config involved).
    const q = async (type: 'A' | 'AAAA', name: string, server: string): Promise<{ rcode: string, data: string[] }> => {
      const out = await world.net.exec(b.ns, process.execPath, ['-e', `
        const dns = require('dns-packet'); const s = require('node:dgram').createSocket('${server.includes(':') ? 'udp6' : 'udp4'}')
        s.send(dns.encode({ type: 'query', id: 9, questions: [{ type: '${type}', name: ${JSON.stringify(name)} }] }), 53, ${JSON.stringify(server)})
        s.on('message', (m) => { const r = dns.decode(m); console.log(JSON.stringify({ rcode: r.rcode, data: r.answers.map(x => x.data) })); process.exit(0) })
        setTimeout(() => process.exit(3), 3000)`])
      return JSON.parse(out) as { rcode: string, data: string[] }
    }
    const r4 = await q('A', 'c.dmsnet', ipOf(a))
    assert.equal(r4.rcode, 'NOERROR')
    assert.deepEqual(r4.data, [ipOf(c)])
    const r6 = await q('AAAA', 'c.dmsnet', ip6Of(a))
    assert.equal(r6.rcode, 'NOERROR')
    assert.deepEqual(r6.data, [ip6Of(c)])
    const nx = await q('A', 'nobody.dmsnet', ipOf(a))
    assert.equal(nx.rcode, 'NXDOMAIN')
  })

  await t.test('a forged inner source is dropped and counted', async () => {
    // b is the stream dialer or acceptor for a either way; the forged packet claims to come from c.
    await b.call('waitLink', { peerId: a.peerId })
    const before = (await a.call<VpnStatus>('status')).peers.find(p => p.peerId === b.peerId)!
    assert.equal(await b.call('spoof', { peerId: a.peerId, src: ipOf(c), dst: ipOf(a), count: 5 }), true)
    await waitUntil(async () => {
      const now = (await a.call<VpnStatus>('status')).peers.find(p => p.peerId === b.peerId)!
      return now.dropSpoofed >= before.dropSpoofed + 5
    }, 5000, 'the spoofed packets to be counted')
    // and the honest path still works
    assert.ok(await ping(b, world, ipOf(a)))
  })

  await t.test('removing a peer cuts it off at once; the others keep flowing; re-adding works', async () => {
    const abBefore = (await a.call<VpnStatus>('status')).peers.find(p => p.peerId === b.peerId)!
    await a.call('remove', { peerId: c.peerId })
    // on the authority, c is out the moment the call returns
    assert.equal((await a.call<VpnStatus>('status')).peers.some(p => p.peerId === c.peerId), false)
    // a and b no longer accept c's packets, whatever c does.
    await waitUntil(async () => (await b.call<VpnStatus>('status')).peers.length === 2, 10_000, 'b to drop c')
    assert.equal(await ping(c, world, ipOf(a), 2), false, 'c cannot reach a')
    assert.equal(await ping(c, world, ipOf(b), 2), false, 'c cannot reach b')
    assert.ok(await ping(a, world, ipOf(b)), 'a and b still talk')
    const abAfter = (await a.call<VpnStatus>('status')).peers.find(p => p.peerId === b.peerId)!
    assert.equal(abAfter.streamsOpened, abBefore.streamsOpened, 'the a <-> b tunnel was not disturbed')
    const cs = await c.call<VpnStatus>('status')
    assert.notEqual(cs.state, 'running', 'c was told it is out')

    const member = await a.call<{ ipv4: string }>('add', { peer: specOf(c) })
    const others = (await a.call<VpnStatus>('status')).peers.filter(p => p.peerId !== c.peerId).map(p => p.ipv4)
    assert.ok(!others.includes(member.ipv4), 're-added address does not collide')
    await waitUntil(async () => await ping(c, world, ipOf(a), 1), 20_000, 'c back in')
    assert.ok(await ping(b, world, member.ipv4))
  })
})

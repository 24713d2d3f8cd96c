/**
 * `dmsnet vpn attach|detach|map-port|unmap-port|ports` against a real daemon in its own network
 * namespace with a running VPN (real TUN, veth, bridge, nft): each command works and leaves its
 * mark on the host, and bad input (a namespace that does not exist, one not attached, an unknown
 * mapping id, a port already mapped or served, a malformed port) is a named error and exit code.
 * Also the VPN DNS forwarding end to end (config -> VPN -> responder -> a fake upstream).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { netnsFixture } from '../helpers/netns.js'
import { requireRoot } from '../helpers/root.js'
import { repoRoot, runCli, startDaemon, type CliResult } from './helpers.js'

test('vpn attach/detach/map-port/unmap-port/ports: work, and refuse bad input with named errors', { timeout: 180_000 }, async (t) => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t, 'dj')
  const home = await net.namespace('d')
  const job = await net.namespace('job')
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-cli-vpnjobs-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const daemon = await startDaemon(['--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-metrics'], { netns: home })
  t.after(async () => { await daemon.stop() })

  const cli = async (...args: string[]): Promise<CliResult> => await runCli(['--data-dir', dir, ...args])
  const json = async <T>(...args: string[]): Promise<T> => {
    const r = await cli(...args, '--json')
    assert.equal(r.code, 0, `dmsnet ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout) as T
  }
  const refused = async (args: string[], code: number, stderr: RegExp): Promise<void> => {
    const r = await cli(...args)
    assert.equal(r.code, code, `dmsnet ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
    assert.match(r.stderr, stderr)
  }
  const inNs = async (ns: string, ...args: string[]): Promise<string> => await net.exec(ns, args[0]!, args.slice(1))

  // no VPN yet: a named runtime error
  await refused(['vpn', 'attach', job], 1, /VpnNotRunningError/)
  const up = await json<{ state: string, ipv4: string }>('call', 'vpn.up', '{"peers":[]}')
  assert.equal(up.state, 'running')

  // attach: a namespace that does not exist is bad input; a real one gets an address on the bridge
  await refused(['vpn', 'attach', `${job}-nope`], 2, /NamespaceNotFoundError: no network namespace "dj.*-job-nope"/)
  await refused(['vpn', 'attach', 'bad/name'], 2, /InvalidNamespaceNameError/)
  const att = await json<{ netns: string, address: string, gateway: string }>('vpn', 'attach', job)
  assert.equal(att.netns, job)
  assert.match(await inNs(job, 'ip', '-4', 'addr'), new RegExp(`inet ${att.address.replace(/\./g, '\\.')}/`))
  await inNs(job, 'ping', '-c1', '-W2', att.gateway)

  // map-port: the rule is in nft; the same port again, or a port a local service holds, is refused
  const m = await json<{ id: string, protocol: string, port: number, target: string }>('vpn', 'map-port', 'tcp/8080', `${att.address}:80`)
  assert.equal(m.target, `${att.address}:80`)
  assert.match(await inNs(home, 'nft', 'list', 'ruleset'), /dport 8080 .*dnat/)
  await refused(['vpn', 'map-port', 'tcp/8080', `${att.address}:81`], 1, new RegExp(`PortInUseError: tcp/8080 is already mapped .*id ${m.id}`))
  // the VPN's own DNS responder listens on udp/53 of the VPN address
  await refused(['vpn', 'map-port', 'udp/53', att.address], 1, new RegExp(`PortInUseError: udp/53 is already in use on ${up.ipv4.replace(/\./g, '\\.')}`))
  await refused(['vpn', 'map-port', 'tcp/99999', att.address], 2, /port: got "tcp\/99999"/)
  await refused(['vpn', 'map-port', 'tcp/8081', 'job.example'], 2, /target: got "job.example"/)

  const ports = await json<{ mappings: Array<{ id: string }>, jobs: Array<{ netns: string }> }>('vpn', 'ports')
  assert.deepEqual(ports.mappings.map(x => x.id), [m.id])
  assert.deepEqual(ports.jobs.map(j => j.netns), [job])
  const human = await cli('vpn', 'ports')
  assert.match(human.stdout, new RegExp(`${m.id} +tcp/8080 +${att.address.replace(/\./g, '\\.')}:80`))

  // unmap-port: unknown id is bad input; the real one goes, and so does its rule
  await refused(['vpn', 'unmap-port', 'no-such-id'], 2, /PortMappingNotFoundError: no port mapping with id "no-such-id"/)
  assert.equal((await cli('vpn', 'unmap-port', m.id)).code, 0)
  assert.doesNotMatch(await inNs(home, 'nft', 'list', 'ruleset'), /dport 8080/)
  assert.deepEqual((await json<{ mappings: unknown[] }>('vpn', 'ports')).mappings, [])

  // detach: the veth goes; detaching again or a namespace that does not exist is bad input
  assert.deepEqual(await json('vpn', 'detach', job), { netns: job, detached: true })
  assert.doesNotMatch(await inNs(job, 'ip', '-4', 'addr'), new RegExp(att.address.replace(/\./g, '\\.')))
  await refused(['vpn', 'detach', job], 2, /NamespaceNotAttachedError/)
  await refused(['vpn', 'detach', `${job}-nope`], 2, /NamespaceNotFoundError/)
})

/** Runs a short node script inside a namespace (dns-packet resolves from the repository). */
function nodeIn (ns: string, code: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
}

async function output (child: ChildProcess): Promise<string> {
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  await once(child, 'close')
  return out
}

test('the daemon\'s VPN DNS forwards names outside the domain to vpn.dnsForward.upstreams', { timeout: 120_000 }, async (t) => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t, 'dk')
  const home = await net.namespace('d')
  // a fake resolver inside the daemon's namespace: answers every A query with 192.0.2.99
  const upstream = nodeIn(home, `
    const dns = require('dns-packet'); const s = require('node:dgram').createSocket('udp4')
    s.on('message', (m, r) => { const q = dns.decode(m); s.send(dns.encode({ type: 'response', id: q.id, flags: dns.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions[0].name, ttl: 60, data: '192.0.2.99' }] }), r.port, r.address) })
    s.bind(5353, '127.0.0.1', () => console.log('listening'))`)
  t.after(() => { upstream.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    upstream.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('listening')) resolve() })
    upstream.once('close', () => { reject(new Error('fake upstream exited')) })
  })
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-cli-vpndns-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const daemon = await startDaemon(['--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-metrics'], { netns: home, env: { DMSNET_VPN_DNS_FORWARD_UPSTREAMS: '127.0.0.1:5353' } })
  t.after(async () => { await daemon.stop() })
  const up = await runCli(['--data-dir', dir, 'call', 'vpn.up', '{"peers":[]}'])
  assert.equal(up.code, 0, up.stderr)
  const vpnIp = (JSON.parse(up.stdout) as { ipv4: string }).ipv4

  const ask = async (name: string): Promise<{ rcode: string, data: string[] }> => JSON.parse(await output(nodeIn(home, `
    const dns = require('dns-packet'); const s = require('node:dgram').createSocket('udp4')
    s.send(dns.encode({ type: 'query', id: 3, flags: dns.RECURSION_DESIRED, questions: [{ type: 'A', name: ${JSON.stringify(name)} }] }), 53, ${JSON.stringify(vpnIp)})
    s.on('message', (m) => { const r = dns.decode(m); console.log(JSON.stringify({ rcode: r.rcode, data: r.answers.map(x => x.data) })); process.exit(0) })
    setTimeout(() => process.exit(3), 5000)`))) as { rcode: string, data: string[] }
  assert.deepEqual(await ask('www.example.test'), { rcode: 'NOERROR', data: ['192.0.2.99'] })
  // its own domain is still answered locally
  const self = await ask('nobody.dmsnet')
  assert.equal(self.rcode, 'NXDOMAIN')
})

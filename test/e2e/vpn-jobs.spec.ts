// VPN end to end: a job's namespace attached through veth + bridge (+ masquerade) reaches another
// node's VPN address, and a port of the job is exposed on the node's VPN address (DNAT), then removed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { requireRoot } from '../helpers/root.js'
import { createVpnWorld, nodeIn, specOf, type VpnNodeProc } from './vpn-harness.js'
import type { VpnStatus } from '../../src/vpn/types.js'
import type { JobAttachment, PortMappingInfo } from '../../src/vpn/jobs.js'

const SERVER = `
require('node:net').createServer((s) => { s.end('hello-from-job') }).listen(8080, '0.0.0.0', () => console.log('listening'))`

const CLIENT = `
const [host, port] = process.argv.slice(1)
const s = require('node:net').connect(Number(port), host); let got = ''
s.setTimeout(3000, () => { console.log('timeout'); process.exit(0) })
s.on('data', (d) => { got += d }); s.on('end', () => { console.log(got); process.exit(0) })
s.on('error', (e) => { console.log('error:' + e.code); process.exit(0) })`

test('vpn: job namespace attached through veth + bridge; port mapping', { timeout: 180_000 }, async (t) => {
  if (!requireRoot(t)) return
  const world = await createVpnWorld(t, ['a', 'b'])
  t.after(async () => { await world.cleanup() })
  const [a, b] = world.nodes as [VpnNodeProc, VpnNodeProc]
  const st = await a.call<VpnStatus>('start', { peers: [specOf(b)] })
  const ipOf = (n: VpnNodeProc): string => st.peers.find(p => p.peerId === n.peerId)!.ipv4
  await b.call('waitLink', { peerId: a.peerId })

  const job = await world.net.namespace('j')
  const att = await a.call<JobAttachment>('attach', { netns: job })
  assert.match(att.address, /^10\.250\.0\.\d+$/)

  await t.test('a process in the job namespace reaches another node\'s VPN address', async () => {
    const r = await world.net.status(job, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ipOf(b)], { timeoutMs: 15_000 })
    assert.equal(r.code, 0, r.stdout)
    // its TCP towards members starts with the VPN's congestion control, like the node's own (vpn.congestionControl)
    assert.match(await world.net.exec(job, 'ip', ['-4', 'route', 'show']), /^100\.64\.0\.0\/10 via \S+ dev \S+ congctl cubic/m)
  })

  await t.test('a job port is exposed on the node\'s VPN address, and removed', async () => {
    const server = spawn('ip', ['netns', 'exec', job, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'ignore'] })
    t.after(() => { server.kill('SIGKILL') })
    await new Promise<void>(resolve => { server.stdout.on('data', () => { resolve() }) })
    const m = await a.call<PortMappingInfo>('mapPort', { protocol: 'tcp', port: 9090, to: { address: att.address, port: 8080 } })
    assert.equal((await nodeIn(b.ns, CLIENT, [ipOf(a), '9090'])).trim(), 'hello-from-job')
    const s = await a.call<VpnStatus>('status')
    assert.deepEqual(s.portMappings.map(x => x.port), [9090])
    await a.call('unmapPort', { mapId: m.id })
    // no mapping: nothing listens on a's 9090 any more, so a's kernel resets the connection
    assert.equal((await nodeIn(b.ns, CLIENT, [ipOf(a), '9090'])).trim(), 'error:ECONNREFUSED')
  })

  await t.test('detaching cuts the job namespace off', async () => {
    await a.call('detach', { netns: job })
    // the job's veth end is gone: only loopback is left, and the kernel has no route to the VPN
    const links = JSON.parse(await world.net.exec(job, 'ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>
    assert.deepEqual(links.map(l => l.ifname), ['lo'])
    const r = await world.net.status(job, 'ping', ['-c', '1', '-W', '1', ipOf(b)], { timeoutMs: 10_000 })
    assert.equal(r.code, 2, r.stdout + r.stderr)
    assert.match(r.stdout + r.stderr, /unreachable/i)
  })
})

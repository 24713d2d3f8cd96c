// VPN end to end: a 256 MiB TCP transfer through the tunnel with matching hashes, then kill -9
// and restart of a member and of the authority: traffic resumes without touching the others.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { requireRoot } from '../helpers/root.js'
import { createVpnWorld, specOf, tcpTransfer, type VpnNodeProc, type VpnWorld } from './vpn-harness.js'
import type { VpnStatus } from '../../src/vpn/types.js'
import { pause } from '../helpers/wait.js'

async function pings (world: VpnWorld, from: VpnNodeProc, addr: string): Promise<boolean> {
  return (await world.net.status(from.ns, 'ping', ['-c', '1', '-W', '1', addr], { timeoutMs: 5000 })).code === 0
}

/** Polls until `fn` holds; returns the milliseconds it took. */
async function within (fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now()
  while (Date.now() - t0 < timeoutMs) {
    if (await fn()) return Date.now() - t0
    await pause(100) // polling interval of a bounded wait for a condition
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`)
}

test('vpn: 256 MiB over TCP, kill -9 and restart', { timeout: 300_000 }, async (t) => {
  if (!requireRoot(t)) return
  const world = await createVpnWorld(t, ['a', 'b', 'c'])
  t.after(async () => { await world.cleanup() })
  const [a, b, c] = world.nodes as [VpnNodeProc, VpnNodeProc, VpnNodeProc]
  const st = await a.call<VpnStatus>('start', { peers: [specOf(b), specOf(c)] })
  const ip = new Map(st.peers.map(p => [p.peerId, p.ipv4]))
  const ipOf = (n: VpnNodeProc): string => ip.get(n.peerId)!
  for (const [x, y] of [[a, b], [a, c], [b, c]] as const) await within(async () => await pings(world, x, ipOf(y)), 20_000, `${x.label} -> ${y.label}`)

  await t.test('256 MiB TCP transfer arrives intact', async () => {
    const r = await tcpTransfer(a.ns, b.ns, ipOf(b), 256 * 1024 * 1024)
    assert.equal(r.received.bytes, 256 * 1024 * 1024)
    assert.equal(r.received.sha256, r.sent.sha256)
    t.diagnostic(`256 MiB in ${r.sent.seconds} s = ${(256 * 8 * 1.048576 / r.sent.seconds / 1000).toFixed(2)} Gbit/s`)
  })

  await t.test('kill -9 of a member: it resumes within 10 s after restart, the others unaffected', async () => {
    const cBefore = (await c.call<VpnStatus>('status')).peers.find(p => p.peerId === a.peerId)!
    await b.kill9()
    await b.restart()
    await b.call('start')
    const ms = await within(async () => await pings(world, a, ipOf(b)) && await pings(world, c, ipOf(b)), 10_000, 'traffic to the restarted member')
    t.diagnostic(`member traffic resumed ${ms} ms after its restart`)
    const bs = await b.call<VpnStatus>('status')
    assert.equal(bs.ipv4, ipOf(b), 'same address after restart')
    const cAfter = (await c.call<VpnStatus>('status')).peers.find(p => p.peerId === a.peerId)!
    assert.equal(cAfter.streamsOpened, cBefore.streamsOpened, 'the c <-> a tunnel was never reopened')
    assert.ok(await pings(world, c, ipOf(a)))
  })

  await t.test('kill -9 of the authority: it resumes with the same addresses', async () => {
    const bBefore = (await b.call<VpnStatus>('status')).peers.find(p => p.peerId === c.peerId)!
    await a.kill9()
    await a.restart()
    const s = await a.call<VpnStatus>('start')
    assert.equal(s.isAuthority, true)
    assert.deepEqual(new Map(s.peers.map(p => [p.peerId, p.ipv4])), ip)
    const ms = await within(async () => await pings(world, b, ipOf(a)) && await pings(world, c, ipOf(a)), 10_000, 'traffic to the restarted authority')
    t.diagnostic(`authority traffic resumed ${ms} ms after its restart`)
    const bAfter = (await b.call<VpnStatus>('status')).peers.find(p => p.peerId === c.peerId)!
    assert.equal(bAfter.streamsOpened, bBefore.streamsOpened, 'the b <-> c tunnel was never reopened')
    // membership changes still work after the restart
    await a.call('remove', { peerId: c.peerId })
    await within(async () => (await b.call<VpnStatus>('status')).peers.length === 2, 10_000, 'b to learn of the removal')
  })
})

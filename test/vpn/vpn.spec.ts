// createVpn over two real libp2p nodes on loopback, with an in-memory TUN (no root needed): the
// membership reaches the member, packets cross the real stream in both directions, a forged source
// is dropped and counted, oversized frames reset the stream, a host switch (private swarm profile)
// re-establishes the tunnel, and the bounded queue drops instead of buffering without limit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startNode, waitFor, type TestNode } from '../network/helpers.js'
import { createVpn, type CreateVpnOptions, type Vpn } from '../../src/vpn/vpn.js'
import { CONTROL_PROTOCOL } from '../../src/vpn/control.js'
import { buildBatch, iterateRecords } from '../../src/netdev/records.js'
import { buildIPv4, icmpEcho } from '../../src/vpn/packet.js'
import { parseIPv4 } from '../../src/vpn/ip.js'
import type { TunFactory, VpnStatus, VpnTun } from '../../src/vpn/types.js'
import { acceptsInvite } from '../../src/vpn/accept-invite.js'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

interface FakeTun extends VpnTun { written: Uint8Array[], inject: (batch: Uint8Array) => void }

function fakeTunFactory (sink: { tun?: FakeTun }): TunFactory {
  return async (options) => {
    let onBatch: ((b: Uint8Array) => void) | undefined
    const tun: FakeTun = {
      name: options.name,
      vnetHdr: false,
      written: [],
      start (cb) { onBatch = cb },
      write (batch) { tun.written.push(...Array.from(iterateRecords(batch), p => p.slice())) },
      inject (batch) { onBatch?.(batch) },
      async close () { onBatch = undefined }
    }
    sink.tun = tun
    return tun
  }
}

async function vpnOn (node: TestNode, sink: { tun?: FakeTun }, name: string, maxQueueBytes?: number, acceptInvite?: (authority: string) => boolean, extra: Partial<CreateVpnOptions> = {}): Promise<Vpn> {
  return await createVpn({
    network: node.net,
    config: { dataDir: node.dir, dnsPort: 0 },
    tun: fakeTunFactory(sink),
    name,
    offload: false,
    ...(maxQueueBytes != null ? { maxQueueBytes } : {}),
    // the library refuses invitations by default; these tests trust everyone unless they say otherwise
    acceptInvite: acceptInvite ?? (() => true),
    ...extra
  })
}

test('acceptsInvite (the daemon\'s rule): listed peers or *, else only members of our private swarm', () => {
  const a = '12D3KooWAa34VXqiR2kZBrPQpk6wNejAZEQqBWnxWztafHEvnBpB'
  assert.equal(acceptsInvite([], undefined, a), false, 'public network, nobody listed: refused')
  assert.equal(acceptsInvite([a], undefined, a), true)
  assert.equal(acceptsInvite(['*'], undefined, a), true)
  assert.equal(acceptsInvite([], new Set([a]), a), true, 'a member of our swarm')
  assert.equal(acceptsInvite([], new Set(['someone-else']), a), false)
})

test('a node that does not trust the inviter stays out of its VPN', { timeout: 60_000 }, async (t) => {
  const a = await startNode()
  const b = await startNode()
  t.after(async () => { await a.stop(); await b.stop() })
  const va = await vpnOn(a, {}, 'alpha')
  const asked: string[] = []
  const vb = await vpnOn(b, {}, 'beta', undefined, (authority) => { asked.push(authority); return false })
  t.after(async () => { await va.stop(); await vb.stop() })
  const refusals: Array<{ from: string, error: string }> = []
  vb.addEventListener('membership:refused', (e) => { refusals.push({ from: e.detail.from, error: e.detail.error }) })
  await a.net.dial(b.net.host.getMultiaddrs()[0]!)
  // start() awaits the membership push to every member, so b has decided when it returns
  await va.start([{ peerId: b.net.peerId.toString(), name: 'beta' }])
  assert.deepEqual(asked, [a.net.peerId.toString()], 'the invitation reached b and its rule was asked about a')
  assert.deepEqual(refusals, [{ from: a.net.peerId.toString(), error: 'InvitationRefusedError' }])
  assert.equal(vb.status().policy.invitationsRefused, 1)
  assert.equal(vb.status().policy.refused, 0)
  assert.notEqual(vb.status().state, 'running', 'b must not have joined')
  assert.equal(vb.status().ipv4, undefined)
})

function pkt (src: string, dst: string, seq: number, size = 8): Uint8Array {
  return buildIPv4(parseIPv4(src), parseIPv4(dst), 1, icmpEcho(7, seq, new Uint8Array(size)))
}

test('createVpn between two loopback nodes with an in-memory TUN', { timeout: 120_000 }, async (t) => {
  const a = await startNode()
  const b = await startNode()
  t.after(async () => { await a.stop(); await b.stop() })
  const sa: { tun?: FakeTun } = {}
  const sb: { tun?: FakeTun } = {}
  const va = await vpnOn(a, sa, 'alpha')
  const vb = await vpnOn(b, sb, 'beta')
  t.after(async () => { await va.stop(); await vb.stop() })
  await a.net.dial(b.net.host.getMultiaddrs()[0]!)

  const st = await va.start([{ peerId: b.net.peerId.toString(), name: 'beta' }])
  const ipA = st.ipv4!
  const ipB = st.peers.find(p => p.name === 'beta')!.ipv4
  await waitFor(() => vb.status().state === 'running', 10_000, 'b to join')
  assert.equal(vb.status().ipv4, ipB)
  assert.equal(vb.status().isAuthority, false)
  await va.waitForLink(b.net.peerId.toString(), { signal: AbortSignal.timeout(10_000) })
  await vb.waitForLink(a.net.peerId.toString(), { signal: AbortSignal.timeout(10_000) })

  await t.test('packets cross in both directions, in order', async () => {
    sa.tun!.inject(buildBatch(Array.from({ length: 50 }, (_, i) => pkt(ipA, ipB, i))))
    await waitFor(() => sb.tun!.written.length >= 50, 10_000, 'delivery a -> b')
    assert.deepEqual(sb.tun!.written.map(p => p[27]), Array.from({ length: 50 }, (_, i) => i), 'in order')
    sb.tun!.inject(buildBatch([pkt(ipB, ipA, 1, 60_000)]))
    await waitFor(() => sa.tun!.written.length >= 1, 10_000, 'delivery b -> a')
    assert.equal(sa.tun!.written[0]!.byteLength, 20 + 8 + 60_000)
  })

  await t.test('a forged source or a foreign destination is dropped and counted', async () => {
    const peerA = (): VpnStatus['peers'][number] => vb.status().peers.find(p => p.peerId === a.net.peerId.toString())!
    let before = sb.tun!.written.length
    sa.tun!.inject(buildBatch([pkt('100.64.99.99', ipB, 1), pkt(ipA, '100.64.99.98', 2), pkt(ipA, ipB, 3)]))
    await waitFor(() => sb.tun!.written.length > before, 10_000, 'the honest packet')
    assert.equal(sb.tun!.written.length, before + 1)
    assert.equal(peerA().dropSpoofed, 1)
    // the foreign destination never left a: no member behind it
    assert.ok(va.status().dropNoRoute >= 1)
    // so send it past a's route lookup, straight onto the tunnel: b's own check must drop it
    before = sb.tun!.written.length
    assert.equal(peerA().dropNotForUs, 0)
    assert.equal(va.injectRecords(b.net.peerId.toString(), buildBatch([pkt(ipA, '100.64.99.98', 4), pkt(ipA, ipB, 5)])), true)
    await waitFor(() => sb.tun!.written.length > before, 10_000, 'the honest packet after the foreign one')
    assert.equal(sb.tun!.written.length, before + 1, 'only the packet for b reached its TUN')
    assert.equal(sb.tun!.written.at(-1)![27], 5)
    assert.equal(peerA().dropNotForUs, 1)
  })

  await t.test('an oversized frame resets the stream and is counted; the tunnel comes back', async () => {
    const bad = new Uint8Array(8)
    new DataView(bad.buffer).setUint32(0, 0x00ffffff)
    assert.equal(va.injectRecords(b.net.peerId.toString(), bad), true)
    await waitFor(() => vb.status().peers.find(p => p.peerId === a.net.peerId.toString())!.dropMalformed >= 1, 10_000, 'malformed counted')
    await waitFor(() => va.status().peers.find(p => p.peerId === b.net.peerId.toString())!.streamsOpened >= 2, 10_000, 'redial')
    const before = sb.tun!.written.length
    await waitFor(() => {
      sa.tun!.inject(buildBatch([pkt(ipA, ipB, 9)]))
      return sb.tun!.written.length > before
    }, 10_000, 'traffic after the reset')
  })

  await t.test('after a host switch (private swarm profile) the tunnel is re-established', async () => {
    const allow = new Set([a.net.peerId.toString(), b.net.peerId.toString()])
    const profile = { name: 'swarm:vpn-test', dhtProtocolPrefix: '/dmsnet-vpn-test', bootstrap: [], allowPeers: allow }
    await a.net.switchProfile(profile)
    await b.net.switchProfile(profile)
    await a.net.dial(b.net.host.getMultiaddrs()[0]!)
    const before = sb.tun!.written.length
    await waitFor(() => {
      sa.tun!.inject(buildBatch([pkt(ipA, ipB, 11)]))
      return sb.tun!.written.length > before
    }, 15_000, 'traffic after the host switch')
  })

  await t.test('removal: b is told and leaves; a forgets it (the cut-off itself is proven in test/e2e/vpn-basic)', async () => {
    await va.removePeer(b.net.peerId.toString())
    assert.equal(va.status().peers.length, 1)
    await waitFor(() => vb.status().state !== 'running', 10_000, 'b to leave')
    const s: VpnStatus = va.status()
    assert.equal(s.peers.some(p => p.peerId === b.net.peerId.toString()), false)
  })
})

/**
 * a (authority), b and c in one VPN; b stops serving the control protocol, so the push of c's
 * removal cannot reach it (as when a push times out). Returns once a has removed c.
 */
async function removalPushMissedByB (t: { after: (fn: () => Promise<void>) => void }, refreshMs: number): Promise<{ a: TestNode, b: TestNode, vb: Vpn, c: string, version: number }> {
  const [a, b, c] = [await startNode(), await startNode(), await startNode()]
  t.after(async () => { await a.stop(); await b.stop(); await c.stop() })
  const va = await vpnOn(a, {}, 'alpha')
  const vb = await vpnOn(b, {}, 'beta', undefined, undefined, { membershipRefreshMs: refreshMs })
  const vc = await vpnOn(c, {}, 'gamma')
  t.after(async () => { await va.stop(); await vb.stop(); await vc.stop() })
  await a.net.dial(b.net.host.getMultiaddrs()[0]!)
  await a.net.dial(c.net.host.getMultiaddrs()[0]!)
  const cId = c.net.peerId.toString()
  await va.start([{ peerId: b.net.peerId.toString(), name: 'beta' }, { peerId: cId, name: 'gamma' }])
  await waitFor(() => vb.membership()?.members.length === 3, 10_000, 'b to join')
  const version = vb.membership()!.version
  await b.net.unhandle(CONTROL_PROTOCOL)
  await va.removePeer(cId)
  assert.equal(va.membership()!.version, version + 1)
  await waitFor(() => vc.status().state !== 'running', 10_000, 'c, told, to leave')
  return { a, b, vb, c: cId, version }
}

test('a member that missed a removal push drops the removed peer at its next periodic fetch', { timeout: 90_000 }, async (t) => {
  const { vb, c, version } = await removalPushMissedByB(t, 300)
  await waitFor(() => vb.membership()?.version === version + 1, 10_000, 'b to fetch the new membership')
  assert.equal(vb.membership()!.members.some(x => x.peerId === c), false)
  assert.equal(vb.status().peers.some(p => p.peerId === c), false)
})

test('a member that missed a removal push fetches the membership when its connection to the authority comes back', { timeout: 90_000 }, async (t) => {
  const { a, b, vb, c, version } = await removalPushMissedByB(t, 3_600_000)
  // positive control: the push did not arrive, b still holds c
  assert.equal(vb.membership()!.version, version)
  assert.equal(vb.membership()!.members.some(x => x.peerId === c), true)
  await a.net.host.hangUp(b.net.peerId)
  await a.net.dial(b.net.host.getMultiaddrs()[0]!)
  await waitFor(() => vb.membership()?.version === version + 1, 15_000, 'b to fetch the new membership')
  assert.equal(vb.membership()!.members.some(x => x.peerId === c), false)
})

test('the per-peer queue is bounded: without a stream, packets beyond the bound are dropped and counted', async (t) => {
  const a = await startNode()
  t.after(async () => { await a.stop() })
  const sa: { tun?: FakeTun } = {}
  const va = await vpnOn(a, sa, 'alpha', 64 * 1024)
  t.after(async () => { await va.stop({ forget: true }) })
  // a member that never answers: its link has no stream, so everything queues up to the bound
  const ghost = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
  const st = await va.start([{ peerId: ghost, name: 'ghost' }])
  const ipG = st.peers.find(p => p.name === 'ghost')!.ipv4
  for (let i = 0; i < 100; i++) sa.tun!.inject(buildBatch([pkt(st.ipv4!, ipG, i, 1400)]))
  const g = va.status().peers.find(p => p.name === 'ghost')!
  assert.ok(g.queuedBytes <= 64 * 1024)
  assert.ok(g.dropQueueFull >= 100 - Math.floor(64 * 1024 / 1432), `dropped ${g.dropQueueFull}`)
})

test('a corrupt saved state is refused with a typed error, never silently discarded', { timeout: 30_000 }, async (t) => {
  const a = await startNode()
  t.after(async () => { await a.stop() })
  const file = join(a.dir, 'vpn', 'state.json')
  mkdirSync(join(a.dir, 'vpn'), { recursive: true })
  writeFileSync(file, '{"membership": {not json')
  const va = await vpnOn(a, {}, 'alpha')
  t.after(async () => { await va.stop() })
  await assert.rejects(va.start(), { name: 'VpnStateFileError' })
  assert.equal(readFileSync(file, 'utf8'), '{"membership": {not json', 'the file is left for the operator')
})

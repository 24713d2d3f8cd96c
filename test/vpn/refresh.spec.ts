/**
 * The member's membership refresh (src/vpn/refresh.ts) against an authority whose latest
 * membership this member's policy refuses, on real nodes over loopback TCP with an in-memory TUN:
 * the refusal is judged, counted and logged once, the unchanged membership fetched again is only
 * counted (`refusedRepeats`), the periodic fetch backs off, and a membership the policy accepts is
 * applied at once afterwards (the positive control). And what a `fetch` tells whom: the member
 * list only to members (docs/protocols.md section 10).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { iterateRecords } from '../../src/netdev/records.js'
import { CONTROL_PROTOCOL, exchange, serve, type ControlReply } from '../../src/vpn/control.js'
import type { VpnMembership } from '../../src/vpn/membership.js'
import { MAX_REFUSED_BACKOFF } from '../../src/vpn/refresh.js'
import type { TunFactory } from '../../src/vpn/types.js'
import { createVpn, type Vpn } from '../../src/vpn/vpn.js'
import { pause } from '../helpers/wait.js'
import { startNode, waitFor, type TestNode } from '../network/helpers.js'

/** A TUN that goes nowhere: this test is about the control plane. */
const nullTun: TunFactory = async (options) => ({
  name: options.name,
  vnetHdr: false,
  start () {},
  write (batch) { for (const _ of iterateRecords(batch)) { /* dropped */ } },
  async close () {}
})

async function vpnOn (node: TestNode, name: string, refreshMs?: number): Promise<Vpn> {
  return await createVpn({
    network: node.net,
    config: { dataDir: node.dir, dnsPort: 0 },
    tun: nullTun,
    name,
    offload: false,
    acceptInvite: () => true,
    ...(refreshMs != null ? { membershipRefreshMs: refreshMs } : {})
  })
}

test('a refused membership is judged once; fetched again unchanged it is only counted and the refresh backs off', { timeout: 60_000 }, async (t) => {
  const INTERVAL = 100
  const [a, b] = [await startNode(), await startNode()]
  t.after(async () => { await b.stop(); await a.stop() })
  const va = await vpnOn(a, 'alpha')
  const vb = await vpnOn(b, 'beta', INTERVAL)
  t.after(async () => { await vb.stop(); await va.stop() })
  await a.net.dial(b.net.host.getMultiaddrs()[0]!)
  await va.start([{ peerId: b.net.peerId.toString(), name: 'beta' }])
  await waitFor(() => vb.membership() != null, 10_000, 'b to join')
  const v1 = vb.membership()!

  // from now on a answers fetches itself: first with a membership b's policy refuses (a member
  // route over the VPN's own prefix), later with one it accepts
  let answer: VpnMembership = { ...v1, version: v1.version + 1, members: v1.members.map((m, i) => i === 0 ? { ...m, routes: [v1.cidr] } : m) }
  let fetches = 0
  await a.net.unhandle(CONTROL_PROTOCOL)
  await a.net.handle(CONTROL_PROTOCOL, (stream) => {
    void serve(stream, async (req) => {
      if (req.type !== 'fetch') return { ok: true }
      fetches++
      return { ok: true, membership: answer }
    }, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
  })
  await waitFor(() => vb.status().policy.refused === 1, 10_000, 'b to refuse the membership')
  await waitFor(() => vb.status().policy.refusedRepeats >= 1, 10_000, 'the same membership fetched again')

  const fetchesBefore = fetches
  const repeatsBefore = vb.status().policy.refusedRepeats
  await pause(20 * INTERVAL) // 20 refresh intervals during which the refusal must not be judged again
  const status = vb.status()
  assert.equal(status.policy.refused, 1, 'the refusal was judged (counted and logged) once')
  assert.ok(status.policy.refusedRepeats > repeatsBefore, 'the repeats are counted')
  const during = fetches - fetchesBefore
  // without the back-off: ~20 fetches; with it, one per 8 intervals once at the cap
  assert.ok(during <= Math.ceil(20 / (MAX_REFUSED_BACKOFF / 2)) + 1, `${during} fetches in 20 intervals`)
  assert.equal(vb.membership()!.version, v1.version, 'b keeps the membership it holds')

  // positive control: a membership the policy accepts is applied within the back-off cap
  answer = { ...v1, version: v1.version + 2 }
  await waitFor(() => vb.membership()?.version === v1.version + 2, 10_000, 'b to apply the accepted membership')
  assert.equal(vb.status().policy.refused, 1)
})

test('fetch: only a member gets the member list from the authority; an outsider gets an empty one, a non-authority none', { timeout: 60_000 }, async (t) => {
  const [a, b, c] = [await startNode(), await startNode(), await startNode()]
  t.after(async () => { await c.stop(); await b.stop(); await a.stop() })
  const va = await vpnOn(a, 'alpha')
  const vb = await vpnOn(b, 'beta')
  t.after(async () => { await vb.stop(); await va.stop() })
  await a.net.dial(b.net.host.getMultiaddrs()[0]!)
  await va.start([{ peerId: b.net.peerId.toString(), name: 'beta' }])
  await waitFor(() => vb.membership() != null, 10_000, 'b to join')
  const networkId = va.membership()!.networkId
  const ask = async (from: TestNode, to: TestNode, id = networkId): Promise<ControlReply> =>
    await exchange(await from.net.dialProtocol(to.net.getMultiaddrs()[0]!, CONTROL_PROTOCOL), { type: 'fetch', networkId: id }, { signal: AbortSignal.timeout(10_000) })

  // positive control: the member gets every member with its addresses
  const member = await ask(b, a)
  assert.equal(member.ok, true)
  assert.equal(member.ok && member.membership?.members.length, 2)
  // an outsider learns that the VPN exists, not who is in it or at which addresses
  const outsider = await ask(c, a)
  assert.equal(outsider.ok, true)
  assert.deepEqual(outsider.ok && outsider.membership?.members, [])
  // a member is not the authority: it answers no one, nor does the authority for another VPN
  assert.deepEqual(await ask(c, b), { ok: false, error: 'not the authority of that VPN' })
  assert.deepEqual(await ask(b, a, 'another-vpn'), { ok: false, error: 'not the authority of that VPN' })
})

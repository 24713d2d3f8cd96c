// A member whose VPN device could not be created when the invitation came (its name taken by
// another link in its namespace) comes up by itself once the device can be created: the authority
// pushes the same membership again until the member takes it, and the member tries the membership
// it holds again (src/vpn/push.ts, src/vpn/vpn.ts). Real vpn-node processes in network namespaces,
// real TUN devices. Before stop 28 such a member stayed `stopped` until the next membership change.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { requireRoot } from '../helpers/root.js'
import { createVpnWorld, specOf, waitUntil, type VpnNodeProc } from './vpn-harness.js'
import type { VpnStatus } from '../../src/vpn/types.js'

test('vpn: a member whose device could not be created joins once it can, without a new membership', { timeout: 180_000 }, async (t) => {
  if (!requireRoot(t)) return
  const world = await createVpnWorld(t, ['a', 'b'])
  t.after(async () => { await world.cleanup() })
  const [a, b] = world.nodes as [VpnNodeProc, VpnNodeProc]
  // the VPN device's name (vpn-node's `dvpn0`) is taken in b's namespace by a link of another kind
  await world.net.exec(b.ns, 'ip', ['link', 'add', 'dvpn0', 'type', 'bridge'])

  const st = await a.call<VpnStatus>('start', { peers: [specOf(b)] })
  assert.equal(st.state, 'running')
  const version = st.version
  const ipB = st.peers.find(p => p.peerId === b.peerId)!.ipv4
  // start() waits for the first push: b has judged and tried the membership by now
  const sb = await b.call<VpnStatus>('status')
  assert.equal(sb.state, 'stopped', 'b holds the membership, its device did not open')
  assert.equal(sb.version, version)
  assert.match(await world.net.exec(b.ns, 'ip', ['-o', 'link', 'show', 'dvpn0']), /link\/ether/, 'the other link is still there')

  await world.net.exec(b.ns, 'ip', ['link', 'del', 'dvpn0'])
  await waitUntil(async () => (await b.call<VpnStatus>('status')).state === 'running', 60_000, 'b to open its device at a push again or its refresh')
  const after = await b.call<VpnStatus>('status')
  assert.equal(after.version, version, 'the same membership, no new version')
  assert.equal(after.ipv4, ipB)
  assert.equal((await a.call<VpnStatus>('status')).version, version)
  await b.call('waitLink', { peerId: a.peerId })
  const ping = await world.net.status(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', ipB], { timeoutMs: 20_000 })
  assert.equal(ping.code, 0, `a pings b over the VPN: ${ping.stdout}`)
})

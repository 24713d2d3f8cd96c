/**
 * An open's AbortSignal bounds the open, never the device's life (issue 14): a TUN opened with a
 * signal that aborts afterwards keeps passing packets, and a VPN started by a control request
 * whose caller went away keeps its device and its tunnel. Aborting DURING the open still cancels
 * it and leaves no device and no fd behind. Real TUN devices in namespaces the test creates.
 */
import assert from 'node:assert/strict'
import { readdirSync, readlinkSync } from 'node:fs'
import { test } from 'node:test'
import { createTun } from '../../src/netdev/tun.js'
import { iterateRecords, recordPacket } from '../../src/netdev/records.js'
import { listLinks } from '../../src/netdev/link.js'
import { createVpn } from '../../src/vpn/vpn.js'
import { netdevTunFactory } from '../../src/vpn/tun-device.js'
import { netnsFixture } from '../helpers/netns.js'
import { requireRoot } from '../helpers/root.js'
import { startNode, waitFor } from '../network/helpers.js'
import { echoReplyFor, parseIpv4 } from '../netdev/packets.js'

/** This process's fds open on /dev/net/tun. */
const tunFds = (): number => readdirSync('/proc/self/fd').filter(fd => {
  try { return readlinkSync(`/proc/self/fd/${fd}`) === '/dev/net/tun' } catch { return false }
}).length

test('createTun: a signal aborted after the open leaves the device open and passing packets', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('life')
  const ac = new AbortController()
  const tun = await createTun({ name: net.ifname('tl'), netns: ns, addresses: ['10.79.0.1/24'], signal: ac.signal })
  t.after(async () => { await tun.close() })
  ac.abort(new Error('the caller went away'))

  assert.equal(tun.closed, false)
  tun.onBatch(batch => {
    for (const rec of iterateRecords(batch)) {
      const pkt = recordPacket(rec, tun.offload)
      const ip = parseIpv4(pkt)
      if (ip.version === 4 && ip.protocol === 1 && pkt[ip.headerLen] === 8) tun.write(echoReplyFor(pkt))
    }
  })
  assert.match(await net.exec(ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.79.0.2']), /2 received/)
  assert.ok(tun.stats.rxPackets >= 2 && tun.stats.txPackets >= 2, JSON.stringify(tun.stats))
})

test('createTun: aborting during the open cancels it, leaving no device and no fd', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('cancel')
  const name = net.ifname('tc')
  const fdsBefore = tunFds()
  const ac = new AbortController()
  // the device is opened synchronously; the abort lands while it is being moved and configured
  const opening = createTun({ name, netns: ns, addresses: ['10.79.1.1/24'], signal: ac.signal })
  ac.abort(new Error('cancelled'))
  await assert.rejects(opening, { name: 'AbortedError' })
  assert.equal(tunFds(), fdsBefore, 'the fd was closed')
  assert.ok(!(await listLinks({ netns: ns })).some(l => l.name === name), 'no device in the namespace')
  assert.ok(!(await listLinks()).some(l => l.name === name), 'no device left in our namespace')

  // positive control: the same open without an abort succeeds
  const tun = await createTun({ name, netns: ns, addresses: ['10.79.1.1/24'], signal: new AbortController().signal })
  t.after(async () => { await tun.close() })
  assert.ok((await listLinks({ netns: ns })).some(l => l.name === name))
})

test('vpn.start with a request signal that aborts afterwards: the VPN keeps running and its tunnel passes packets', { timeout: 60_000 }, async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const nsA = await net.namespace('va')
  const nsB = await net.namespace('vb')
  const a = await startNode()
  const b = await startNode()
  t.after(async () => { await a.stop(); await b.stop() })
  const vpnOn = async (node: typeof a, netns: string, name: string): Promise<Awaited<ReturnType<typeof createVpn>>> => await createVpn({
    network: node.net,
    config: { dataDir: node.dir, dnsPort: 0, interfaceName: net.ifname('vp') },
    tun: netdevTunFactory({ netns }),
    name,
    offload: false,
    acceptInvite: () => true
  })
  const va = await vpnOn(a, nsA, 'alpha')
  const vb = await vpnOn(b, nsB, 'beta')
  t.after(async () => { await va.stop(); await vb.stop() })
  await a.net.dial(b.net.getMultiaddrs()[0]!)

  // what the daemon does with a control request: the request's signal goes to vpn.start
  const request = new AbortController()
  const st = await va.start([{ peerId: b.net.peerId.toString(), name: 'beta' }], { signal: request.signal })
  request.abort(new Error('the CLI disconnected'))
  const ipB = st.peers.find(p => p.name === 'beta')!.ipv4
  await waitFor(() => vb.status().state === 'running', 10_000, 'b to join')
  await va.waitForLink(b.net.peerId.toString(), { signal: AbortSignal.timeout(10_000) })
  await vb.waitForLink(a.net.peerId.toString(), { signal: AbortSignal.timeout(10_000) })

  assert.equal(va.status().state, 'running')
  assert.ok((await listLinks({ netns: nsA })).some(l => l.name === st.interface), 'the device is still there')
  // a real ping from a's namespace through a's TUN, the libp2p tunnel and b's TUN, answered by b's kernel
  assert.match(await net.exec(nsA, 'ping', ['-c', '3', '-i', '0.2', '-W', '3', ipB]), /\b[1-3] received/)
})

/**
 * docs/vpn.md: "Control never blocks packets." A member that takes the authority's control stream
 * and never answers (here: b swaps its control handler for one that holds every stream) keeps a
 * membership push pending for its whole timeout; meanwhile packets between the authority and that
 * same member keep crossing, both ways. Real libp2p nodes over loopback TCP, an in-memory TUN.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startNode, waitFor } from '../network/helpers.js'
import { createVpn, type Vpn } from '../../src/vpn/vpn.js'
import { CONTROL_PROTOCOL } from '../../src/vpn/control.js'
import { buildBatch, iterateRecords } from '../../src/netdev/records.js'
import { buildIPv4, icmpEcho } from '../../src/vpn/packet.js'
import { parseIPv4 } from '../../src/vpn/ip.js'
import type { TunFactory, VpnTun } from '../../src/vpn/types.js'
import type { Stream } from '@libp2p/interface'

/** A TUN in memory: `inject` plays the kernel handing us packets; `written` is what reached the kernel. */
function memoryTun (): { factory: TunFactory, inject: (b: Uint8Array) => void, written: Uint8Array[] } {
  let onBatch: ((b: Uint8Array) => void) | undefined
  const written: Uint8Array[] = []
  const factory: TunFactory = async (options) => {
    const tun: VpnTun = {
      name: options.name,
      vnetHdr: false,
      start (cb) { onBatch = cb },
      write (batch) { for (const p of iterateRecords(batch)) written.push(p.slice()) },
      async close () { onBatch = undefined }
    }
    return tun
  }
  return { factory, inject: (b) => { onBatch?.(b) }, written }
}

const GHOST = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'

test('vpn: a member stalling the control protocol holds up no packets, and the authority\'s change still completes', { timeout: 60_000 }, async (t) => {
  const a = await startNode()
  const b = await startNode()
  t.after(async () => { await a.stop(); await b.stop() })
  const ta = memoryTun()
  const tb = memoryTun()
  const make = async (n: typeof a, tun: ReturnType<typeof memoryTun>, name: string): Promise<Vpn> =>
    await createVpn({ network: n.net, config: { dataDir: n.dir, dnsPort: 0 }, tun: tun.factory, name, offload: false, acceptInvite: () => true })
  const va = await make(a, ta, 'alpha')
  const vb = await make(b, tb, 'beta')
  t.after(async () => { await va.stop(); await vb.stop() })
  await a.net.dial(b.net.host.getMultiaddrs()[0]!)
  const st = await va.start([{ peerId: b.net.peerId.toString(), name: 'beta' }])
  const ipA = st.ipv4!
  const ipB = st.peers.find(p => p.name === 'beta')!.ipv4
  await waitFor(() => vb.status().state === 'running', 10_000, 'b to join')
  await va.waitForLink(b.net.peerId.toString(), { signal: AbortSignal.timeout(10_000) })

  // b turns hostile on the control protocol: it takes every stream and never answers
  const held: Stream[] = []
  await b.net.unhandle(CONTROL_PROTOCOL)
  await b.net.handle(CONTROL_PROTOCOL, (stream) => { held.push(stream) }, { runOnLimitedConnection: true })
  t.after(() => { for (const s of held) s.abort(new Error('test over')) })

  const version = va.membership()!.version
  let pending = true
  const adding = va.addPeer({ peerId: GHOST, name: 'ghost' }).finally(() => { pending = false })
  await waitFor(() => held.length >= 1, 10_000, 'the push to b to reach b\'s stalling handler')

  // while that push hangs, packets cross both ways
  const pkt = (src: string, dst: string, seq: number): Uint8Array => buildIPv4(parseIPv4(src), parseIPv4(dst), 1, icmpEcho(9, seq, new Uint8Array(8)))
  const [wa, wb] = [ta.written.length, tb.written.length]
  ta.inject(buildBatch(Array.from({ length: 20 }, (_, i) => pkt(ipA, ipB, i))))
  tb.inject(buildBatch(Array.from({ length: 20 }, (_, i) => pkt(ipB, ipA, i))))
  // (the wait ends when the packets are there; its bound is the 5 s push timeout, after which the claim could not be shown)
  await waitFor(() => tb.written.length >= wb + 20 && ta.written.length >= wa + 20, 4500, 'packets both ways during the stalled push')
  assert.equal(pending, true, 'the packets crossed while the control push to b was still hanging')

  // the change itself completes once the push to b times out; the stall is bounded
  const ghost = await adding
  assert.equal(ghost.name, 'ghost')
  assert.equal(va.membership()!.version, version + 1)
  assert.equal(vb.membership()!.version, version, 'b never took the push it stalled')
})

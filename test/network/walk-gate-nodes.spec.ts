/**
 * The random-walk gate (src/network/walk-gate.ts) on real js-libp2p nodes over loopback TCP: a
 * node whose relay client keeps libp2p's random walk going (no relay server anywhere) runs no DHT
 * lookup for the walk while it has `stopAtConnections` peers, while a node in the same network
 * with the gate off (0) keeps walking in the same period (the positive control). The walk's own
 * `walk:peer` events count its lookups' results: a lookup that ran over the DHT yields them.
 *
 * It fails if the gate is not installed (libp2p moved the walk), or lets the walk through while
 * the node has enough peers (the issue-10 storm: lookups and dials every few seconds per node).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startNode, type TestNode } from './helpers.js'
import { waitFor } from '../helpers/wait.js'

/** The walk of libp2p 3 (components.randomWalk): an event target of `walk:peer`. */
function walkEvents (n: TestNode): () => number {
  const walk = (n.net.host as unknown as { components: { randomWalk?: EventTarget } }).components.randomWalk
  assert.ok(walk != null && typeof walk.addEventListener === 'function', 'libp2p has no random walk component (components.randomWalk)')
  let count = 0
  walk.addEventListener('walk:peer', () => { count++ })
  return () => count
}

/** A fast-paced walk (an ungated walk runs every 0.1-0.4 s), kept going by the relay client. */
const walker = (stopAtConnections: number): Record<string, unknown> => ({
  'network.relay.client': true,
  'network.randomWalk.minIntervalMs': 100,
  'network.randomWalk.maxIntervalMs': 400,
  'network.randomWalk.stopAtConnections': stopAtConnections,
  // only the walk may add connections, so the counts below are the walk's doing
  'network.connectionManager.minConnections': 0
})

describe('network: random walk gate on real nodes', () => {
  const THRESHOLD = 3
  let peers: TestNode[] = []
  let gated: TestNode | undefined
  let open: TestNode | undefined

  before(async () => {
    peers = await Promise.all(Array.from({ length: 5 }, async () => await startNode({ 'network.connectionManager.minConnections': 0 })))
    gated = await startNode(walker(THRESHOLD))
    open = await startNode(walker(0))
  })
  after(async () => { await Promise.all([...peers, gated, open].map(async n => { await n?.stop() })) })

  it('runs no walk lookup while the node has stopAtConnections peers; an ungated node keeps walking', { timeout: 90_000 }, async () => {
    const g = gated!
    const o = open!
    const gatedWalks = walkEvents(g)
    const openWalks = walkEvents(o)
    for (const n of [g, o]) {
      // a dial on a loaded machine can time out in its Noise handshake: try again, 3 times at most
      for (const p of peers) {
        for (let attempt = 1; ; attempt++) {
          try { await n.net.dial(p.net.host.getMultiaddrs()[0]!); break } catch (err) { if (attempt >= 3) throw err }
        }
      }
    }
    const conns = (n: TestNode): number => n.net.host.getPeers().length
    await waitFor(() => conns(g) >= THRESHOLD + 2 && conns(o) >= THRESHOLD + 2, 20_000, 'both walkers connected to the 5 peers')

    // warm-up: the control walks (positive control: the walk runs and its lookups reach the DHT),
    // and several of its paced iterations pass, long enough for an iteration the gated node had
    // started before it was connected to end
    const o0 = openWalks()
    await waitFor(() => openWalks() >= o0 + 15, 30_000, 'the ungated node\'s walk found peers (several lookups)')

    // the window: as long as the control needs for as many lookups again
    const g1 = gatedWalks()
    const o1 = openWalks()
    let minConns = conns(g)
    await waitFor(() => {
      minConns = Math.min(minConns, conns(g))
      return openWalks() >= o1 + 15
    }, 30_000, 'the ungated node walked on')
    assert.ok(minConns >= THRESHOLD, `the gated node kept ${THRESHOLD}+ peers through the window (min ${minConns})`)
    assert.equal(gatedWalks() - g1, 0, `the gated node's walk yielded peers while it had ${minConns}+ connected (the control's yielded ${openWalks() - o1})`)
  })
})

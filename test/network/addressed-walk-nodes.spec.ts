/**
 * The random walk's lookups (src/network/addressed-walk.ts) on real js-libp2p nodes over loopback
 * TCP: in a full mesh of 7 nodes, one walk iteration runs one DHT lookup and no `findPeer`, and
 * sends FIND_NODE to at most twice as many peers as the node has.
 *
 * The positive control runs the same lookup through libp2p's own peer routing on the same node:
 * while libp2p runs a `findPeer` (a whole DHT lookup) for every result without addresses, the
 * control sees those lookups and several times the FIND_NODE RPCs (the issue-10 cost: in a mesh of
 * 10 nodes ~90 RPCs each way per iteration). If libp2p stops doing that, the control fails: then
 * src/network/addressed-walk.ts can go.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startNode, waitFor, type TestNode } from './helpers.js'
import { NO_KEEPER, routingTable } from './dht-helpers.js'
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'

interface ClosestPeers { getClosestPeers: (key: Uint8Array, options?: AbortOptions) => AsyncIterable<PeerInfo> }
interface Counters { findPeer: number, findNode: number }

/** Counts `n`'s libp2p `findPeer` calls and the DHT requests it sends, by wrapping both in place. */
function count (n: TestNode): Counters {
  const components = (n.net.host as unknown as { components: { peerRouting: { findPeer: (id: PeerId, o?: AbortOptions) => Promise<PeerInfo> } } }).components
  const routing = components.peerRouting
  const network = (n.net.dht as unknown as { network?: { sendRequest?: (...args: unknown[]) => AsyncIterable<unknown> } }).network
  assert.ok(typeof routing.findPeer === 'function', 'libp2p peer routing has findPeer')
  assert.ok(network != null && typeof network.sendRequest === 'function', 'kad-dht has network.sendRequest')
  const c: Counters = { findPeer: 0, findNode: 0 }
  const findPeer = routing.findPeer
  routing.findPeer = async (id, o) => { c.findPeer++; return await findPeer.call(routing, id, o) }
  const send = network.sendRequest
  network.sendRequest = (...args: unknown[]) => { c.findNode++; return send.apply(network, args) }
  return c
}

async function lookup (routing: ClosestPeers): Promise<number> {
  let n = 0
  for await (const peer of routing.getClosestPeers(randomBytes(32), { signal: AbortSignal.timeout(30_000) })) {
    assert.ok(peer.multiaddrs.length > 0, `the walk got ${peer.id.toString()} with addresses`)
    n++
  }
  return n
}

describe('network: the random walk looks up each peer once', () => {
  const N = 7
  let nodes: TestNode[] = []
  // the control's findPeer per result would ask each (held) peer alone (src/network/dht-direct.ts):
  // off here, so that the control shows what libp2p's routing costs with kad-dht's own lookups
  const direct = process.env.DMSNET_DHT_DIRECT

  before(async () => {
    process.env.DMSNET_DHT_DIRECT = '0'
    nodes = await Promise.all(Array.from({ length: N }, async () => await startNode(NO_KEEPER)))
    for (const [i, a] of nodes.entries()) {
      for (const b of nodes.slice(i + 1)) {
        for (let attempt = 1; ; attempt++) {
          try { await b.net.dial(a.net.host.getMultiaddrs()[0]!); break } catch (err) { if (attempt >= 3) throw err }
        }
      }
    }
    await waitFor(() => nodes.every(n => routingTable(n).size >= N - 1), 30_000, 'every routing table holds the other 6 nodes')
  })
  after(async () => {
    if (direct == null) delete process.env.DMSNET_DHT_DIRECT
    else process.env.DMSNET_DHT_DIRECT = direct
    await Promise.all(nodes.map(async n => { await n.stop() }))
  })

  it('one walk iteration in a mesh of 7 runs no findPeer and at most 2 x peers FIND_NODE; libp2p\'s own lookup runs a findPeer per result', { timeout: 120_000 }, async () => {
    const a = nodes[0]!
    const components = (a.net.host as unknown as { components: { randomWalk?: { peerRouting?: ClosestPeers }, peerRouting: ClosestPeers } }).components
    const walkRouting = components.randomWalk?.peerRouting
    assert.ok(walkRouting != null, 'libp2p has a random walk (components.randomWalk.peerRouting)')
    const c = count(a)
    const peers = a.net.host.getPeers().length
    assert.equal(peers, N - 1)

    // the walk's routing (gate -> pacing -> addressed lookups); nothing else walks here (no relay
    // client, no AutoNAT), so this is the only lookup
    const found = await lookup(walkRouting)
    assert.ok(found >= N - 1, `the walk's lookup found the ${N - 1} peers (found ${found})`)
    assert.equal(c.findPeer, 0, 'the walk ran no findPeer: every result had addresses in the peer store')
    assert.ok(c.findNode <= 2 * peers, `the walk sent ${c.findNode} DHT requests, at most 2 x ${peers} peers`)
    const walkRpcs = c.findNode

    // the positive control: libp2p's peer routing, the walk's routing before this workaround
    c.findPeer = 0
    c.findNode = 0
    await lookup(components.peerRouting)
    assert.ok(c.findPeer >= 1, 'libp2p\'s getClosestPeers ran findPeer for results without addresses (if not, libp2p fixed it: drop src/network/addressed-walk.ts)')
    assert.ok(c.findNode > 2 * walkRpcs, `libp2p's lookup sent ${c.findNode} DHT requests against the walk's ${walkRpcs}`)
  })
})

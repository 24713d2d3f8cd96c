/**
 * The random walk's lookups without a second DHT lookup per result.
 *
 * Why (issue 10, a 10-node network over 1 % of a core at idle): libp2p's `DefaultPeerRouting
 * .getClosestPeers` (libp2p 3.3, src/peer-routing.ts) runs `findPeer(id, { useCache: false })`, a
 * whole DHT lookup that skips the peer store, for every result that came without addresses.
 * kad-dht's lookup yields its starting peers (taken from its routing table, which holds ids only)
 * without addresses. So in a mesh of 10 nodes one walk iteration was 1 + 9 lookups, ~90
 * FIND_NODE RPCs sent and ~90 answered per node: a ~30-s burst at 1.5-3 % of a core every time the
 * paced walk ran, the cost growing as peers squared up to the walk gate's threshold.
 *
 * The walk's routing is replaced by one that asks the same routers (kad-dht) for the closest
 * peers, fills a result's missing addresses from the peer store (where identify and the DHT
 * already put them for every peer we know) and runs `findPeer` (cache allowed) only for a peer the
 * store has no address for. Everything the walk's consumers see is unchanged: peers with
 * addresses, each once per lookup. If libp2p's internals move, `addressRandomWalk` returns
 * undefined and test/network/addressed-walk-nodes.spec.ts fails.
 */
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

interface ClosestPeersRouter {
  getClosestPeers?: (key: Uint8Array, options?: AbortOptions) => AsyncIterable<PeerInfo>
}

/** What of libp2p's `DefaultPeerRouting` this uses. */
export interface PeerRoutingInternals {
  routers: ClosestPeersRouter[]
  peerStore: {
    get: (id: PeerId, options?: AbortOptions) => Promise<{ addresses: Array<{ multiaddr: Multiaddr }> }>
    merge: (id: PeerId, data: { multiaddrs: Multiaddr[] }, options?: AbortOptions) => Promise<unknown>
  }
  findPeer: (id: PeerId, options?: AbortOptions) => Promise<PeerInfo>
}

export interface AddressedWalkStats {
  /** Peers the walk's lookups yielded. */
  peers: number
  /** Of those, peers whose addresses came from the peer store. */
  fromPeerStore: number
  /** `findPeer` lookups run for a peer the store had no address for. */
  lookups: number
  /** Peers left out: no address anywhere (the lookup failed or found none). */
  unaddressed: number
}

async function storedAddresses (routing: PeerRoutingInternals, id: PeerId, options?: AbortOptions): Promise<Multiaddr[]> {
  try {
    return (await routing.peerStore.get(id, options)).addresses.map(a => a.multiaddr)
  } catch (err) {
    if ((err as Error).name === 'NotFoundError') return []
    throw err
  }
}

/**
 * A `getClosestPeers` over `routing`'s routers that gives every result addresses, from the peer
 * store first. Routers are asked one after the other (a dmsnet node has one, kad-dht); a peer is
 * yielded once per lookup.
 */
export function addressedClosestPeers (routing: PeerRoutingInternals): { getClosestPeers: (key: Uint8Array, options?: AbortOptions) => AsyncGenerator<PeerInfo>, stats: AddressedWalkStats } {
  const stats: AddressedWalkStats = { peers: 0, fromPeerStore: 0, lookups: 0, unaddressed: 0 }
  return {
    stats,
    async * getClosestPeers (key: Uint8Array, options?: AbortOptions): AsyncGenerator<PeerInfo> {
      const seen = new Set<string>()
      for (const router of routing.routers) {
        if (typeof router.getClosestPeers !== 'function') continue
        for await (const found of router.getClosestPeers(key, options)) {
          const id = found.id.toString()
          if (seen.has(id)) continue
          seen.add(id)
          let peer = found
          if (peer.multiaddrs.length > 0) {
            // as libp2p does: what a lookup learnt goes to the store
            await routing.peerStore.merge(peer.id, { multiaddrs: peer.multiaddrs }, options)
          } else {
            const stored = await storedAddresses(routing, peer.id, options)
            if (stored.length > 0) {
              stats.fromPeerStore++
              peer = { id: peer.id, multiaddrs: stored }
            } else {
              stats.lookups++
              try {
                peer = await routing.findPeer(peer.id, options)
              } catch {
                options?.signal?.throwIfAborted()
                stats.unaddressed++
                continue
              }
              if (peer.multiaddrs.length === 0) { stats.unaddressed++; continue }
            }
          }
          stats.peers++
          yield peer
        }
      }
    }
  }
}

interface HostLike {
  components?: unknown
}

/**
 * Installs the addressed lookups as the random walk's routing, on a built (not started) host and
 * before the pacing and gate wrap it. Returns its stats, or undefined when this libp2p has no
 * random walk or its peer routing is not the one this knows.
 */
export function addressRandomWalk (host: HostLike): AddressedWalkStats | undefined {
  let walk: { peerRouting?: Partial<PeerRoutingInternals> } | undefined
  try {
    walk = (host.components as { randomWalk?: { peerRouting?: Partial<PeerRoutingInternals> } } | undefined)?.randomWalk
  } catch {
    return undefined // the components proxy throws for a missing service
  }
  const inner = walk?.peerRouting
  if (walk == null || inner == null || !Array.isArray(inner.routers) || inner.peerStore == null || typeof inner.findPeer !== 'function') return undefined
  const addressed = addressedClosestPeers(inner as PeerRoutingInternals)
  walk.peerRouting = addressed as unknown as Partial<PeerRoutingInternals>
  return addressed.stats
}

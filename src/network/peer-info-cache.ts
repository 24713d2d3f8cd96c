/**
 * A short-lived cache of `peerStore.getInfo` (issue 10): the peer record reads behind kad-dht's
 * FIND_NODE answers.
 *
 * Why: kad-dht answers every inbound FIND_NODE (and starts every lookup) with
 * `getClosestPeersOffline`, which reads the record of each of the k closest peers from the peer
 * store: a per-peer lock (mortice: two queues and two 1-ms timers, made and dropped per read), a
 * datastore read, a protobuf decode and every address parsed into a multiaddr. A node that many
 * peers know (a bootstrap node: in everyone's routing table) answers the same few dozen records
 * over and over, each read the same result as the last.
 *
 * Here a record read by `getInfo` is kept for `ttlMs` (5 s) and answered from memory, as a fresh
 * copy of the address list (callers own what they get). Any write of the peer through the store
 * (merge, patch, save, delete; a signed peer record consumed by identify is a `patch`) drops it,
 * and a read that was in flight while its peer was written is not kept. What a hit can miss
 * is only the peer store's own expiry of an address within those 5 s (it keeps addresses an hour).
 *
 * Memory (stop 28): an expired record used to stay until `maxPeers` (1024) newer reads pushed it
 * out, i.e. for ever at 100 nodes (~1-2 kB a peer in a heap snapshot: the addresses, and the
 * Buffer-pool slabs their bytes keep). Each read now drops the expired records first (the Map is
 * in read order), so what stays is what was read in the last `ttlMs`.
 */
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'

export interface PeerInfoCacheStats {
  hits: number
  misses: number
  /** Records held now (expired ones are dropped at the next read). */
  cached: number
}

interface ReadablePeerStore {
  getInfo(id: PeerId, options?: AbortOptions): Promise<PeerInfo>
  merge(id: PeerId, ...rest: unknown[]): Promise<unknown>
  patch(id: PeerId, ...rest: unknown[]): Promise<unknown>
  save(id: PeerId, ...rest: unknown[]): Promise<unknown>
  delete(id: PeerId, ...rest: unknown[]): Promise<unknown>
}

export interface PeerInfoCacheInit {
  /** How long a read record is answered from memory. */
  ttlMs?: number
  /** Peers kept at most (the oldest reads go first). */
  maxPeers?: number
}

const statsOf = new WeakMap<object, PeerInfoCacheStats>()

/** The counters of a peer store wrapped by `cachePeerInfo` (e.g. `host.peerStore`). */
export function peerInfoCacheStats (peerStore: object): PeerInfoCacheStats | undefined {
  return statsOf.get(peerStore)
}

/** Wraps `peerStore.getInfo` and its writes in place (every libp2p component shares this instance). */
export function cachePeerInfo (peerStore: ReadablePeerStore, init: PeerInfoCacheInit = {}): PeerInfoCacheStats {
  const ttlMs = init.ttlMs ?? 5000
  const maxPeers = init.maxPeers ?? 1024
  const stats: PeerInfoCacheStats = { hits: 0, misses: 0, cached: 0 }
  statsOf.set(peerStore, stats)
  const cache = new Map<string, { info: PeerInfo, at: number }>()
  /** bumped by every write: a read that started before it is not kept */
  let generation = 0
  const copy = (info: PeerInfo): PeerInfo => ({ id: info.id, multiaddrs: [...info.multiaddrs] })

  const getInfo = peerStore.getInfo.bind(peerStore)
  /** Drops the expired records (Map order is read order). */
  const sweep = (now: number): void => {
    for (const [key, c] of cache) {
      if (now - c.at < ttlMs) break
      cache.delete(key)
    }
    stats.cached = cache.size
  }
  const forget = (key: string): void => {
    cache.delete(key)
    stats.cached = cache.size
  }

  peerStore.getInfo = async (id, options) => {
    const key = id.toString()
    const now = Date.now()
    sweep(now)
    const hit = cache.get(key)
    if (hit != null && now - hit.at < ttlMs) {
      stats.hits++
      return copy(hit.info)
    }
    stats.misses++
    const gen = generation
    const info = await getInfo(id, options)
    if (gen === generation) {
      cache.delete(key) // re-insert: Map order is the eviction order
      cache.set(key, { info: copy(info), at: Date.now() })
      if (cache.size > maxPeers) cache.delete(cache.keys().next().value!)
      stats.cached = cache.size
    }
    return info
  }
  for (const m of ['merge', 'patch', 'save', 'delete'] as const) {
    const inner = peerStore[m].bind(peerStore)
    peerStore[m] = async (id: PeerId, ...rest: unknown[]) => {
      generation++
      forget(id.toString())
      try {
        return await inner(id, ...rest)
      } finally {
        generation++
        forget(id.toString())
      }
    }
  }
  return stats
}

/**
 * Skips peer-store writes that would change nothing: the protocol of a stream already recorded.
 *
 * Why (issue 10, bench/census.ts): libp2p records the protocol of every negotiated stream, at both
 * ends, with `peerStore.merge(peer, { protocols: [p] })`. That is a read, a protobuf decode, a
 * merge, an address dedupe and filter, a sort, an encode and a datastore write per stream
 * (~0.1-0.4 ms on the shared test machine), although after the peer's first stream of a protocol
 * the merge changes nothing but the record's `updated` time. Every DHT RPC, gossip stream and
 * message stream paid it twice.
 *
 * The same holds for the addresses kad-dht and libp2p's peer routing merge for every peer a DHT
 * response names (session 7): during lookups, most of them are peers already recorded with the
 * same addresses (a merge keeps an address's `observed` time), and each merge was the same read,
 * decode, merge and write.
 *
 * Here the host's peer store remembers, per peer, the record its last write returned and when.
 * A merge of only protocols and/or addresses that record already has, within `refreshMs` of that
 * write, returns the remembered record without writing. (A signed peer record consumed by identify
 * replaces the addresses through `patch`, so it refreshes the memory too.) Every other write goes through and
 * refreshes the memory, and a delete forgets the peer, so a protocol removed by identify (a patch)
 * is written again by the next stream of it. `refreshMs` (60 s) keeps the record's `updated`
 * time fresh for libp2p's expiry (6 h without a write) and bounds how stale a returned record is.
 *
 * Memory (stop 28): each remembered record is a whole decoded `Peer` (its id and key, addresses,
 * every protocol string, metadata, the signed peer record), ~3.5-4.5 kB a peer in a heap snapshot,
 * and it used to stay until `maxPeers` (4096) pushed it out, long after `refreshMs` made it useless:
 * at 100 nodes that was every peer the node had ever merged. Records older than `refreshMs` are now
 * dropped (from the oldest, at every write and every merge), and `refreshMs` is 60 s instead of
 * 5 min: at idle a peer's protocols are merged again about once a minute per connection, so the
 * shorter memory costs ~one more write (0.1-0.4 ms) per connection per minute at most, and a burst
 * (a DHT lookup merging the same peers over and over) is still answered from memory.
 */
import type { AbortOptions, Peer, PeerData, PeerId } from '@libp2p/interface'

export interface PeerStoreWritesStats {
  /** Protocols-only merges answered from memory (no write). */
  skipped: number
  /** Writes passed to the peer store. */
  written: number
  /** Records held in memory now (older than `refreshMs` are dropped). */
  remembered: number
}

interface WritablePeerStore {
  merge(id: PeerId, data: PeerData, options?: AbortOptions): Promise<Peer>
  patch(id: PeerId, data: PeerData, options?: AbortOptions): Promise<Peer>
  save(id: PeerId, data: PeerData, options?: AbortOptions): Promise<Peer>
  delete(id: PeerId, options?: AbortOptions): Promise<void>
}

export interface PeerStoreWritesInit {
  /** A remembered record is trusted this long after the write that returned it. */
  refreshMs?: number
  /** Peers remembered at most (the least recently written are forgotten first). */
  maxPeers?: number
}

const DEFAULT_REFRESH_MS = 60_000
const DEFAULT_MAX_PEERS = 4096

/**
 * Only `protocols` and/or `multiaddrs` are set (what libp2p's connection writes for every stream,
 * and what kad-dht and libp2p's peer routing write for every peer a DHT response names), and
 * `peer` already has all of them: merging would change nothing but the record's `updated` time
 * (an address already recorded keeps its `observed` time in a merge).
 */
function alreadyRecorded (data: PeerData, peer: Peer): boolean {
  if (data.protocols == null && data.multiaddrs == null) return false
  for (const [k, v] of Object.entries(data)) if (k !== 'protocols' && k !== 'multiaddrs' && v != null) return false
  if (data.protocols != null && !data.protocols.every(p => peer.protocols.includes(p))) return false
  if (data.multiaddrs != null && !data.multiaddrs.every(m => peer.addresses.some(a => a.multiaddr.equals(m)))) return false
  return true
}

const statsOf = new WeakMap<object, PeerStoreWritesStats>()

/** The counters of a peer store wrapped by `skipRedundantPeerWrites` (e.g. `host.peerStore`). */
export function peerStoreWritesStats (peerStore: object): PeerStoreWritesStats | undefined {
  return statsOf.get(peerStore)
}

/** Wraps `peerStore`'s write methods in place (every libp2p component shares this instance). */
export function skipRedundantPeerWrites (peerStore: WritablePeerStore, init: PeerStoreWritesInit = {}): PeerStoreWritesStats {
  const refreshMs = init.refreshMs ?? DEFAULT_REFRESH_MS
  const maxPeers = init.maxPeers ?? DEFAULT_MAX_PEERS
  const stats: PeerStoreWritesStats = { skipped: 0, written: 0, remembered: 0 }
  statsOf.set(peerStore, stats)
  const known = new Map<string, { peer: Peer, at: number }>()
  /** Drops the records a merge may no longer be answered from (Map order is write order). */
  const sweep = (now: number): void => {
    for (const [key, k] of known) {
      if (now - k.at < refreshMs) break
      known.delete(key)
    }
    stats.remembered = known.size
  }
  const remember = (key: string, peer: Peer): Peer => {
    const now = Date.now()
    known.delete(key) // re-insert: Map order is the eviction order
    known.set(key, { peer, at: now })
    if (known.size > maxPeers) known.delete(known.keys().next().value!)
    sweep(now)
    return peer
  }
  const forget = (key: string): void => {
    known.delete(key)
    stats.remembered = known.size
  }
  const write = (method: 'merge' | 'patch' | 'save'): void => {
    const inner = peerStore[method].bind(peerStore)
    peerStore[method] = async (id, data, options) => {
      const key = id.toString()
      if (method === 'merge') {
        const now = Date.now()
        sweep(now)
        const k = known.get(key)
        if (k != null && now - k.at < refreshMs && alreadyRecorded(data, k.peer)) {
          stats.skipped++
          return k.peer
        }
      }
      stats.written++
      try {
        return remember(key, await inner(id, data, options))
      } catch (err) {
        forget(key) // what the store holds now is unknown
        throw err
      }
    }
  }
  write('merge')
  write('patch')
  write('save')
  const del = peerStore.delete.bind(peerStore)
  peerStore.delete = async (id, options) => {
    forget(id.toString())
    await del(id, options)
  }
  return stats
}

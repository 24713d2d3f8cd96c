/**
 * Watches the DHT lookups of kad-dht's periodic upkeep (routing-table refresh, self-query) and says
 * whether each one turned up a peer the routing table did not hold: the signal that lets
 * ./dht-refresh.ts and ./dht-self-query.ts lengthen the period of upkeep that finds nothing new.
 *
 * A lookup is "novel" when any answer (a PEER_RESPONSE event) names a peer that is neither us nor
 * in the routing table as it was when the lookup began, "quiet" when it had answers and none did,
 * and "unanswered" when nobody answered (an empty table at start, the network down): that says
 * nothing about the network, so the callers keep their period. Answers are what a lookup learns
 * from; the routing-table additions they cause come later (kad-dht pings a new contact first).
 */
import type { AbortOptions, PeerId } from '@libp2p/interface'

/** The part of kad-dht's `KADDHTPeerRouting` the upkeep calls. */
export interface ClosestPeersRouting {
  getClosestPeers(key: Uint8Array, options?: AbortOptions): AsyncIterable<unknown>
}

/** The part of kad-dht's routing table read here (its k-bucket trie). */
export interface RoutingTableLike {
  kb?: { toIterable(): Iterable<{ peerId: PeerId }> }
}

/** Ids (strings) of the peers the routing table holds now. */
export function tablePeers (table: RoutingTableLike): Set<string> {
  const ids = new Set<string>()
  for (const c of table.kb?.toIterable() ?? []) ids.add(c.peerId.toString())
  return ids
}

export type LookupNovelty = 'novel' | 'quiet' | 'unanswered'

interface PeerResponseLike { name?: unknown, closer?: Array<{ id: PeerId }> }

/**
 * `inner` whose every lookup reports, when it ends (completed, failed or abandoned by the caller),
 * `onDone(novelty)`.
 */
export function noveltyRouting (inner: ClosestPeersRouting, table: RoutingTableLike, self: PeerId, onDone: (novelty: LookupNovelty) => void): ClosestPeersRouting {
  const selfId = self.toString()
  return {
    async * getClosestPeers (key: Uint8Array, options?: AbortOptions): AsyncGenerator<unknown> {
      const known = tablePeers(table)
      let answered = false
      let novel = false
      try {
        for await (const event of inner.getClosestPeers(key, options)) {
          const ev = event as PeerResponseLike
          if (!novel && ev.name === 'PEER_RESPONSE') {
            answered = true
            novel = ev.closer?.some(p => { const id = p.id.toString(); return id !== selfId && !known.has(id) }) === true
          }
          yield event
        }
      } finally {
        onDone(novel ? 'novel' : answered ? 'quiet' : 'unanswered')
      }
    }
  }
}

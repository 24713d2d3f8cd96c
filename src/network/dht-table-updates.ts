/**
 * No routing-table update job for a peer the routing table already holds.
 *
 * Why (issue 10, CPU per DHT lookup): kad-dht 16 queues an update of its routing table for every
 * peer each DHT answer names (up to 20 per answer, ~10-15 answers per lookup) and for every
 * connected DHT peer: a job on a `PeerQueue` (a scan of the queue, a job with its own
 * AbortController, a recipient promise, an `AbortError` with a stack trace made at clean-up) with
 * an `AbortSignal.timeout` of 10 s (a timer) and a sha256 of the peer id, only for `KBucket.add`
 * to find the peer already in its bucket and return. In a network whose tables are full that is
 * nearly every named peer. The table's own `peer:add` / `peer:remove` events keep a set of its
 * members here; a member's update returns at once, anyone else is queued as before (a new contact
 * is still pinged and added). Nothing changes for a member: `KBucket.add` of a member does nothing.
 * Our own id is skipped too: a FIND_NODE for a peer's own key is answered with that peer's record
 * (kad-dht looks the key up in the peer store first), so every self-query's answers named us and
 * each queued a ping of ourselves that could only fail.
 */
import type { PeerId } from '@libp2p/interface'

export interface TableUpdateStats {
  /** Updates not queued: the peer was in the routing table. */
  skipped: number
  /** Updates passed to kad-dht's queue. */
  queued: number
  /** Peers in the routing table, as the events tell. */
  members: number
}

/** The members of kad-dht 16's `RoutingTable` used here. */
interface RoutingTableInternals {
  queueRoutingTableUpdate: (peerId: PeerId, options?: unknown) => void
  addEventListener: (type: string, fn: (evt: Event) => void) => void
  stop: () => Promise<void> | void
}

const statsOf = new WeakMap<object, TableUpdateStats>()

/** The counters of a DHT whose routing-table updates `skipKnownTableUpdates` filters. */
export function tableUpdateStats (dht: object): TableUpdateStats | undefined {
  return statsOf.get(dht)
}

/** Installs the filter on a built (not started) kad-dht service; undefined when its shape is unknown. */
export function skipKnownTableUpdates (dht: unknown, self: PeerId): TableUpdateStats | undefined {
  const rt = (dht as { routingTable?: Partial<RoutingTableInternals> } | undefined)?.routingTable
  if (rt == null || typeof rt.queueRoutingTableUpdate !== 'function' || typeof rt.addEventListener !== 'function' || typeof rt.stop !== 'function') return undefined
  const table = rt as RoutingTableInternals
  const stats: TableUpdateStats = { skipped: 0, queued: 0, members: 0 }
  const members = new Set<string>()
  const selfId = self.toString()
  const idOf = (evt: Event): string | undefined => (evt as CustomEvent<PeerId | undefined>).detail?.toString()
  table.addEventListener('peer:add', (evt) => {
    const id = idOf(evt)
    if (id != null) members.add(id)
    stats.members = members.size
  })
  table.addEventListener('peer:remove', (evt) => {
    const id = idOf(evt)
    if (id != null) members.delete(id)
    stats.members = members.size
  })
  // the k-bucket trie is emptied on stop without a peer:remove per peer
  const stop = table.stop.bind(table)
  table.stop = async () => {
    members.clear()
    stats.members = 0
    await stop()
  }
  const queue = table.queueRoutingTableUpdate.bind(table)
  table.queueRoutingTableUpdate = (peerId, options) => {
    const id = peerId.toString()
    if (members.has(id) || id === selfId) {
      stats.skipped++
      return
    }
    stats.queued++
    queue(peerId, options)
  }
  statsOf.set(dht as object, stats)
  return stats
}

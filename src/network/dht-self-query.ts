/**
 * Lengthens the period of kad-dht's self-query while it finds nobody new.
 *
 * Why (issue 10, idle CPU at N=100): every node looks itself up every `network.dht.querySelfIntervalMs`
 * (5 min), for ever: a DHT lookup (streams to ~5-10 peers, often dials) that in a network that
 * stopped changing returns the neighbours the node already has. Now a self-query whose answers
 * named no peer outside the routing table (./dht-novelty.ts) doubles the period before the next,
 * up to `maxIntervalMs`; one that named a new peer puts it back to `intervalMs`; one nobody
 * answered (an empty table at start) leaves it. The period is
 * also jittered (0.75-1.25) so that nodes started together do not query together. Cost in
 * freshness: in a quiet network a node re-checks its neighbourhood every 30 min instead of 5; a
 * newcomer close to it still reaches it, because the newcomer's own self-query asks its closest
 * peers (which then hold it in their routing tables through the connection).
 * kad-dht's `QuerySelf` reads its `interval` field when it arms the next query, after the lookup's
 * iterator has finished, so setting that field from the lookup's end is enough. If kad-dht's
 * internals move, `paceSelfQuery` returns undefined and nothing changes.
 */
import { noveltyRouting, type ClosestPeersRouting, type LookupNovelty, type RoutingTableLike } from './dht-novelty.js'
import type { PeerId } from '@libp2p/interface'

export interface SelfQueryPaceInit {
  /** Period while self-queries find new peers (`network.dht.querySelfIntervalMs`). */
  intervalMs: number
  /** Ceiling of the period while they find nobody new. */
  maxIntervalMs: number
  /** Source of [0, 1) for the jitter (tests). */
  random?: () => number
}

export interface SelfQueryPaceStats {
  /** Self-queries that ended. */
  queries: number
  /** Of them, those whose answers named no new peer (period doubled). */
  quiet: number
  /** Of them, those nobody answered (period unchanged). */
  unanswered: number
  /** The period before the next self-query, without jitter, ms. */
  intervalMs: number
}

/** The members of kad-dht 16's `QuerySelf` used here. */
interface QuerySelfInternals {
  peerRouting: ClosestPeersRouting
  interval: number
}

const statsOf = new WeakMap<object, SelfQueryPaceStats>()

/** The counters of a DHT whose self-query `paceSelfQuery` paces. */
export function selfQueryPaceStats (dht: object): SelfQueryPaceStats | undefined {
  return statsOf.get(dht)
}

/** The next period after a self-query (pure: the rule above; no answer at all changes nothing). */
export function nextSelfQueryInterval (current: number, novelty: LookupNovelty, init: Pick<SelfQueryPaceInit, 'intervalMs' | 'maxIntervalMs'>): number {
  const base = Math.max(1, init.intervalMs)
  if (novelty === 'novel') return base
  if (novelty === 'unanswered') return Math.max(base, current)
  return Math.min(Math.max(base, init.maxIntervalMs), Math.max(base, current) * 2)
}

/** Installs the pacing on a built (not started) kad-dht service; undefined when its shape is unknown. */
export function paceSelfQuery (dht: unknown, self: PeerId, init: SelfQueryPaceInit): SelfQueryPaceStats | undefined {
  const d = dht as { querySelf?: Partial<QuerySelfInternals>, routingTable?: RoutingTableLike } | undefined
  const q = d?.querySelf
  if (q == null || d?.routingTable == null || q.peerRouting == null || typeof q.interval !== 'number') return undefined
  const random = init.random ?? Math.random
  const stats: SelfQueryPaceStats = { queries: 0, quiet: 0, unanswered: 0, intervalMs: Math.max(1, init.intervalMs) }
  q.peerRouting = noveltyRouting(q.peerRouting, d.routingTable, self, (novelty) => {
    stats.queries++
    if (novelty === 'quiet') stats.quiet++
    if (novelty === 'unanswered') stats.unanswered++
    stats.intervalMs = nextSelfQueryInterval(stats.intervalMs, novelty, init)
    q.interval = Math.floor(stats.intervalMs * (0.75 + 0.5 * random()))
  })
  statsOf.set(dht as object, stats)
  return stats
}

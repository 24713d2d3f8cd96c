/**
 * A periodic routing-table refresh for kad-dht, paced: one lookup at a time, each at its own
 * jittered time, and a longer period for a common-prefix length (CPL) whose last refresh found
 * nobody new. Off unless `network.dht.refreshIntervalMs` > 0.
 *
 * Why (issue 10): kad-dht 16.4's `RoutingTableRefresh` has `afterStart` and `stop` but no `start`,
 * so `@libp2p/interface`'s `start()` helper, which only starts objects with both `start` and
 * `stop`, never runs it: no node ever refreshed its routing table on a timer (an explicit
 * `refreshRoutingTable()` does run it). Had it run, it would have started the lookups of all
 * tracked CPLs at once (`Promise.all`) every 5 minutes, for ever, whatever they found; a lookup
 * asks ~10-15 peers (each a DHT stream, often a dial) and costs the network ~100 ms of CPU
 * (`bench census-refresh`), and every node answers the others' refreshes too. Installed here, the
 * refresh is made startable and runs as follows:
 * - one refresh lookup in flight at a time, at least `gapMs` after the previous one ended;
 * - each CPL has its own due time, first spread at random over one period, then its period times
 *   a jitter of 0.75-1.25, so refreshes neither burst nor line up across nodes started together;
 * - a refresh whose answers named no peer outside the routing table (./dht-novelty.ts) doubles
 *   its CPL's period, up to `maxIntervalMs`; one that named a new peer puts it back to
 *   `intervalMs`; one without answers (failed, empty table) leaves it. Cost in freshness: in a network that stopped changing, a CPL is looked at every
 *   `maxIntervalMs` (30 min) instead of 5; a newcomer still makes itself known by its own
 *   self-query and dials, and any lookup's answers add it to the tables they reach.
 * - `refreshRoutingTable()` (and the refresh at start) makes every CPL due at once, still one
 *   lookup at a time.
 * Which CPLs exist is kad-dht's choice (`_maxCommonPrefix`, which counts common leading *bytes*,
 * so ~1-2 CPLs at 100 nodes); the lookup per CPL is kad-dht's own `_refreshCommonPrefixLength`.
 * If kad-dht's internals move, `paceTableRefresh` returns undefined and kad-dht refreshes as before;
 * test/network/dht-refresh.spec.ts fails.
 */
import { noveltyRouting, type ClosestPeersRouting, type LookupNovelty, type RoutingTableLike } from './dht-novelty.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'

/** kad-dht cannot make refresh keys for longer prefixes (its MAX_COMMON_PREFIX_LENGTH). */
const MAX_CPL = 15

export interface TableRefreshInit {
  /** A CPL's period while its refreshes find new peers (kad-dht's is 5 min). */
  intervalMs: number
  /** Ceiling of the period while refreshes find nobody new. */
  maxIntervalMs: number
  /** Least time between the end of one refresh lookup and the start of the next (default: min(10 s, interval / 16)). */
  gapMs?: number
  /** Source of [0, 1) for the jitter (tests). */
  random?: () => number
}

export interface TableRefreshStats {
  /** Refresh lookups started. */
  lookups: number
  /** Refresh lookups ended (whatever the outcome). */
  ended: number
  /** Lookups whose answers named a peer outside the routing table (their CPL's period back to base). */
  novel: number
  /** Lookups that had answers and none named a new peer (their CPL's period doubled). */
  quiet: number
  /** Lookups that threw (timeout, abort) or had no answer: the period stays. */
  failed: number
  /** Most refresh lookups ever in flight at once (1 here; all CPLs with kad-dht's own refresh). */
  maxInFlight: number
  /** Each CPL's current period, ms. */
  intervalsMs: number[]
}

/** What the scheduler drives: kad-dht's refresh, or a test's fake. */
export interface RefreshTarget {
  /** Highest CPL to refresh now (0-based, capped at 15). */
  maxCommonPrefix(): number
  /** One refresh lookup of `cpl`; resolves with what its answers said (./dht-novelty.ts). */
  refresh(cpl: number, signal: AbortSignal): Promise<LookupNovelty>
}

export interface RefreshScheduler {
  readonly stats: TableRefreshStats
  /** Starts, with every CPL due at once (kad-dht refreshes at start). */
  start(): void
  /** Every CPL due now (kad-dht's `refreshRoutingTable`). */
  refreshAll(): void
  /** Stops and aborts a lookup in flight. */
  stop(): void
}

export function createRefreshScheduler (target: RefreshTarget, init: TableRefreshInit): RefreshScheduler {
  const base = Math.max(1, init.intervalMs)
  const ceiling = Math.max(base, init.maxIntervalMs)
  const gap = init.gapMs ?? Math.min(10_000, Math.floor(base / 16))
  const random = init.random ?? Math.random
  const stats: TableRefreshStats = { lookups: 0, ended: 0, novel: 0, quiet: 0, failed: 0, maxInFlight: 0, intervalsMs: [] }
  const due: number[] = []
  let started = false
  let inFlight = 0
  let lastEnd = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let controller: AbortController | undefined

  const maxCpl = (): number => Math.max(0, Math.min(MAX_CPL, target.maxCommonPrefix()))
  /** CPLs seen for the first time are spread over one period, so a growing table adds no burst. */
  const track = (max: number): void => {
    for (let c = due.length; c <= max; c++) {
      stats.intervalsMs[c] = base
      due[c] = Date.now() + gap + Math.floor(random() * base)
    }
  }
  const earliest = (max: number): number => {
    let best = 0
    for (let c = 1; c <= max; c++) if (due[c]! < due[best]!) best = c
    return best
  }
  const arm = (): void => {
    if (timer != null) clearTimeout(timer)
    timer = undefined
    if (!started || inFlight > 0) return
    const max = maxCpl()
    track(max)
    const at = Math.max(due[earliest(max)]!, lastEnd + gap)
    timer = setTimeout(() => { timer = undefined; void run() }, Math.max(0, at - Date.now()))
    timer.unref?.()
  }
  const run = async (): Promise<void> => {
    if (!started || inFlight > 0) return
    const max = maxCpl()
    track(max)
    const cpl = earliest(max)
    if (due[cpl]! > Date.now()) { arm(); return }
    inFlight++
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight)
    stats.lookups++
    const ctl = controller = new AbortController()
    let outcome: LookupNovelty = 'unanswered'
    try {
      outcome = await target.refresh(cpl, ctl.signal)
    } catch {
      outcome = 'unanswered'
    } finally {
      inFlight--
    }
    const period = stats.intervalsMs[cpl] ?? base
    if (outcome === 'novel') { stats.novel++; stats.intervalsMs[cpl] = base }
    else if (outcome === 'quiet') { stats.quiet++; stats.intervalsMs[cpl] = Math.min(ceiling, period * 2) }
    else stats.failed++
    stats.ended++
    if (!started || ctl.signal.aborted) return
    lastEnd = Date.now()
    due[cpl] = lastEnd + Math.floor((stats.intervalsMs[cpl] ?? base) * (0.75 + 0.5 * random()))
    arm()
  }
  const refreshAll = (): void => {
    const max = maxCpl()
    track(max)
    const now = Date.now()
    for (let c = 0; c <= max; c++) due[c] = now
    arm()
  }
  return {
    stats,
    start: () => {
      started = true
      refreshAll()
    },
    refreshAll,
    stop: () => {
      started = false
      if (timer != null) clearTimeout(timer)
      timer = undefined
      controller?.abort()
    }
  }
}

/** The members of kad-dht 16's `RoutingTableRefresh` used here. */
interface RefreshInternals {
  peerRouting: ClosestPeersRouting
  routingTable: RoutingTableLike
  refreshTable: (force?: boolean, options?: AbortOptions) => void
  stop: () => Promise<void> | void
  _maxCommonPrefix: () => number
  _refreshCommonPrefixLength: (cpl: number, lastRefresh: Date, force: boolean, options?: AbortOptions) => Promise<void>
}

const statsOf = new WeakMap<object, TableRefreshStats>()

/** The counters of a DHT whose refresh `paceTableRefresh` paces. */
export function tableRefreshStats (dht: object): TableRefreshStats | undefined {
  return statsOf.get(dht)
}

/**
 * Installs the pacing on a built (not started) kad-dht service (`host.services.dht`). Returns its
 * stats, or undefined when this kad-dht has no refresh of the expected shape (then nothing changes).
 */
export function paceTableRefresh (dht: unknown, self: PeerId, init: TableRefreshInit): TableRefreshStats | undefined {
  const r = (dht as { routingTableRefresh?: Partial<RefreshInternals> } | undefined)?.routingTableRefresh
  if (r == null || r.peerRouting == null || r.routingTable == null || typeof r.refreshTable !== 'function' || typeof r.stop !== 'function' ||
    typeof r._maxCommonPrefix !== 'function' || typeof r._refreshCommonPrefixLength !== 'function') return undefined
  const refresh = r as RefreshInternals
  let outcome: LookupNovelty = 'unanswered'
  // the refresh's own lookups only: other lookups share kad-dht's peer routing but not this field
  refresh.peerRouting = noveltyRouting(refresh.peerRouting, refresh.routingTable, self, (n) => { outcome = n })
  const scheduler = createRefreshScheduler({
    maxCommonPrefix: () => refresh._maxCommonPrefix(),
    refresh: async (cpl, signal) => {
      outcome = 'unanswered'
      await refresh._refreshCommonPrefixLength(cpl, new Date(0), true, { signal })
      return outcome
    }
  }, init)
  let running = false
  // kad-dht's start() helper runs afterStart (-> refreshTable(true)) only for objects with a start
  const startable = refresh as RefreshInternals & { start?: () => void }
  if (typeof startable.start !== 'function') startable.start = () => {}
  // kad-dht calls refreshTable(true) from afterStart, and again from refreshRoutingTable()
  refresh.refreshTable = () => {
    if (running) { scheduler.refreshAll(); return }
    running = true
    scheduler.start()
  }
  const stop = refresh.stop.bind(refresh)
  refresh.stop = async () => {
    running = false
    scheduler.stop()
    await stop()
  }
  statsOf.set(dht as object, scheduler.stats)
  return scheduler.stats
}

/**
 * Idle memory reclaim (issue 10): when the daemon has been quiet for a while, one full compacting
 * garbage collection that also gives V8's free pages back, then glibc's `malloc_trim(0)`; after that
 * only once resident memory has grown again by `minGrowthBytes`, never on a fixed busy timer.
 *
 * Why: an idle daemon's RSS keeps creeping up for minutes after start (bench idle: a 3-minute
 * slope of 55-89 MB/h; a 60-minute soak still 3.5 MB/h late). `--trace-gc` on an idle daemon shows
 * V8's memory reducer run once, ~16 s after start (two "Mark-Compact (reduce)"), then only
 * scavenges for minutes: the reducer is re-armed by a later mark-compact, and the old-generation
 * floor (`--initial-old-space-size=64`, kept for the VPN's throughput) postpones that until the old
 * space holds 64 MB, so it fills with promoted garbage meanwhile. Freed V8 pages may stay pooled,
 * and glibc keeps free pages in the middle of its arenas resident (socket and crypto buffers are
 * malloc'd). A reclaim of an idle daemon's ~25 MB heap takes ~10-60 ms of one core.
 *
 * "Quiet": event-loop utilisation (the share of wall time the loop spent running callbacks) at or
 * below `maxEventLoopUtilization` over every check of the last `quietMs`, and no caller-supplied
 * `busy()` veto (the VPN moved packets). Traffic of any kind (VPN, bulk streams, DHT queries) raises
 * the loop's utilisation or trips the veto, so a reclaim never pauses a node that is carrying it.
 * The last reclaim's result, raised by what comes back in the quiet minutes right after it
 * (`refillMs`), is the baseline (RSS outside the young generation, which V8 grows and
 * shrinks on its own): a reclaim that could not bring it down (what grew was compiled code, live
 * data) raises the baseline, so it is not repeated uselessly.
 *
 * Optionally a last step, `release` (memory-filepages.ts, `memory.reclaim.filePages`): the node
 * binary's read-only file pages that start-up touched once are handed back to the kernel
 * (MADV_PAGEOUT by default: freed where no other process maps them).
 *
 * Everything the component touches (clock, collector, trim, RSS, loop utilisation) is injectable:
 * the logic is unit-tested without a daemon (test/daemon/memory-reclaim.spec.ts).
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'
import { readFileSync } from 'node:fs'
import { TypedEventEmitter } from 'main-event'
import type { FilePageRelease } from './memory-filepages.js'

export interface ReclaimResult {
  /** ms since the epoch */
  at: number
  rssBefore: number
  rssAfter: number
  /** rssBefore - rssAfter (may be negative: nothing to give back, and the collection allocated) */
  returnedBytes: number
  /** wall time of the collection and the trim, ms */
  durationMs: number
  /** whether malloc_trim ran and released something */
  trimmed: boolean
  /** of returnedBytes, what malloc_trim gave back after the collection (RSS after the GC - after the trim) */
  trimmedBytes: number
  /** `idle`: the growth rule; `settle`: the lower bar after a busy spell (`settleGrowthBytes`); `manual` */
  reason: 'idle' | 'settle' | 'manual'
  /** the optional last step (`release`, memory-filepages.ts): read-only file pages advised */
  fileRelease?: FilePageRelease
}

export interface MemoryReclaimStats {
  reclaims: number
  /** sum of the positive `returnedBytes` */
  returnedBytes: number
  /** sum of the positive `trimmedBytes` (the part malloc_trim gave back) */
  trimmedBytes: number
  /** sum of what the `release` step took out of the file-backed RSS (memory-filepages.ts `droppedBytes`) */
  fileReleasedBytes: number
  /** ms of wall time spent in reclaims */
  durationMs: number
  /** tidies run (a plain major collection between reclaims, `tidy`) */
  tidies: number
  /** ms of wall time spent in tidies */
  tidyMs: number
  /** checks that found the node busy (loop utilisation or a `busy()` veto) */
  busyChecks: number
  /** of `reclaims`, those run by the settle rule (`settleGrowthBytes`) */
  settleReclaims: number
  last?: ReclaimResult
  /** RSS after the last reclaim */
  baselineRss?: number
  /** `footprint()` after the last reclaim, raised by its refill (`refillMs`): the next one waits until it is `minGrowthBytes` above */
  baselineFootprint?: number
  /** how far the refill after the last reclaim raised `baselineFootprint`, bytes */
  baselineRaisedBytes?: number
}

export interface MemoryReclaimEvents {
  reclaim: CustomEvent<ReclaimResult>
}

export interface MemoryReclaimOptions {
  /** How long the node must have been quiet, ms. Default 15 000. */
  quietMs?: number
  /** RSS growth above the last reclaim's result before the next one, bytes. Default 4 MiB. */
  minGrowthBytes?: number
  /** Never two reclaims closer than this, ms. Default 60 000. */
  minIntervalMs?: number
  /** Loop utilisation (0-1) at or below which a check counts as quiet. Default 0.05. */
  maxEventLoopUtilization?: number
  /** Period of the check, ms. Default 5 000 (the timer is unref'd: it never keeps the process up). */
  checkIntervalMs?: number
  /** A veto: true while the node carries traffic the loop utilisation may not show. */
  busy?: () => boolean
  /** A full, compacting collection that releases pooled pages (memory-native.ts). */
  collect: () => void
  /** malloc_trim(0); true when it released memory. */
  trim?: () => boolean
  /**
   * A plain major collection (pages stay pooled: nothing to refault), run when the node has been
   * quiet and neither a reclaim nor a tidy ran for `tidyIntervalMs`. Why: between reclaims the old
   * space fills with promoted garbage (the old-space floor postpones V8's own mark-compact), which
   * V8 backs with fresh pages - an idle daemon's RSS crept 6-11 MB/h for the ~30 minutes until the
   * 4-MiB rule fired, so a 3-minute window read that creep as growth. A tidy keeps the old space at
   * its live size for a few ms of one core per interval; the reclaim still gives back what it cannot.
   */
  tidy?: () => void
  /** Period of the tidy while quiet, ms; 0 = never. Default 60 000. */
  tidyIntervalMs?: number
  /**
   * The tidy also runs `trim` (malloc_trim(0)): free chunks in malloc's arenas go back to the kernel
   * every tidy, not only at a reclaim. Default false. At N=100 it took 0.5 MB of anonymous memory
   * off the daemons that had it (same run, same CPU), but what it gives back is malloc's working
   * set: it refaults within the minute, a 0.2-0.3-MB sawtooth with the tidy's period.
   */
  tidyTrim?: boolean
  /**
   * The settle rule: once the node is quiet again after a busy spell (`settleBusyChecks` busy
   * checks in a row since the last reclaim), a reclaim as soon as the footprint is this far above
   * the last reclaim's (and `minIntervalMs` has passed), instead of `minGrowthBytes`; 0 = no such
   * rule. Default 1 MiB. Busy checks must be in a row: an idle node's periodic jobs make a scattered
   * busy check now and then, and counting those would turn the 4-MiB rule into 1 MiB. Why: the tidy
   * keeps the old space at its live size, so what a busy spell leaves behind (V8's pooled pages,
   * malloc's free chunks, a grown young generation: nothing a plain collection gives back) stays
   * under the 4-MiB rule for good; at N=100 the tidy's daemons held +0.2-0.3 MB more anonymous
   * memory than without it (docs/scale.md, seventeenth round).
   */
  settleGrowthBytes?: number
  /** Busy checks in a row that make a busy spell for the settle rule. Default 3 (15 s of activity at the default check period). */
  settleBusyChecks?: number
  /**
   * For this long after a reclaim, while the node is quiet (no busy spell), the baseline follows
   * the footprint up, ms; 0 = the baseline is the reclaim's result. Default 300 000. Why (stop 37, bench idle):
   * what comes back in the minutes after a reclaim is the trough it dug refilling (V8's pooled
   * pages, malloc's working set, code the idle timers compile again), 2-4 MB, not growth. Measured
   * from the trough, that refill alone crossed the 4-MiB rule ~10 minutes after start in 7 of
   * 48 daemons: a second reclaim that gave back the same things, which came back again (a sawtooth that a
   * 3-minute window read as 10-15 MB/h). A busy spell (`settleBusyChecks` in a row) ends the
   * refill: what it leaves behind stays growth for the settle rule.
   */
  refillMs?: number
  /**
   * The last step, after the trim: advise the kernel about read-only file pages (memory-filepages.ts).
   * Runs inside the reclaim's timing; its refaults do not count as growth (see `footprint`).
   */
  release?: () => FilePageRelease | undefined
  /** Resident set size now, bytes. Default `process.memoryUsage.rss()`. */
  rss?: () => number
  /**
   * What the growth rule compares, bytes. Default: the anonymous part of RSS minus V8's young
   * generation as committed now (`anonymousOutsideYoung`): the young generation grows and shrinks
   * by several MB on its own (V8 sizes it by the allocation rate), which a reclaim would only
   * shrink for a moment; file pages (the node binary's code as new paths run, or coming back after
   * `release`) are nothing a collection or a trim gives back, and counting them would repeat the
   * reclaim for nothing. With `rss` injected and this not, the injected RSS.
   */
  footprint?: () => number
  /** Loop utilisation since the previous call (0-1). Default from `performance.eventLoopUtilization`. */
  utilization?: () => number
  now?: () => number
}

export interface MemoryReclaimer extends TypedEventEmitter<MemoryReclaimEvents> {
  start (): void
  stop (): void
  /** One check now (the timer calls it); returns the reclaim it ran, if any. */
  check (): ReclaimResult | undefined
  /** A reclaim now, whatever the state (control, tests). */
  reclaim (reason?: ReclaimResult['reason']): ReclaimResult
  stats (): MemoryReclaimStats
}

/** V8's young generation as committed now (`new_space` + `new_large_object_space`), bytes. */
function youngBytes (): number {
  let young = 0
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space') young += s.physical_space_size
  return young
}

/** RSS minus the young generation's committed pages. */
export function residentOutsideYoung (): number {
  return process.memoryUsage.rss() - youngBytes()
}

/** The anonymous part of RSS (`RssAnon` of /proc/self/status) minus the young generation; RSS - young where unreadable. */
export function anonymousOutsideYoung (): number {
  let anon: number
  try {
    anon = Number(/^RssAnon:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024
  } catch {
    anon = NaN
  }
  if (!Number.isFinite(anon)) return residentOutsideYoung()
  return anon - youngBytes()
}


/** Loop utilisation since the previous call, from node's counters (the first call: since start). */
export function eventLoopUtilizationMeter (): () => number {
  let prev: EventLoopUtilization = performance.eventLoopUtilization()
  return () => {
    const now = performance.eventLoopUtilization()
    const delta = performance.eventLoopUtilization(now, prev)
    prev = now
    return delta.utilization
  }
}

class Reclaimer extends TypedEventEmitter<MemoryReclaimEvents> implements MemoryReclaimer {
  private readonly quietMs: number
  private readonly minGrowth: number
  private readonly minInterval: number
  private readonly maxElu: number
  private readonly checkMs: number
  private readonly tidyInterval: number
  private readonly settleGrowth: number
  private readonly settleBusy: number
  private readonly refillMs: number
  /** until when, after the last reclaim, the baseline follows the footprint up (while quiet) */
  private refillUntil = -Infinity
  /** busy checks in a row now, and whether a spell of `settleBusy` of them happened since the last reclaim */
  private busyRun = 0
  private spell = false
  private lastCollectAt = -Infinity
  private readonly now: () => number
  private readonly rss: () => number
  private readonly footprint: () => number
  private readonly utilization: () => number
  private readonly counters: MemoryReclaimStats = { reclaims: 0, returnedBytes: 0, durationMs: 0, busyChecks: 0, settleReclaims: 0, trimmedBytes: 0, fileReleasedBytes: 0, tidies: 0, tidyMs: 0 }
  private quietSince: number | undefined
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly options: MemoryReclaimOptions) {
    super()
    this.quietMs = options.quietMs ?? 15_000
    this.minGrowth = options.minGrowthBytes ?? 4 * 1024 * 1024
    this.minInterval = options.minIntervalMs ?? 60_000
    this.maxElu = options.maxEventLoopUtilization ?? 0.05
    this.checkMs = options.checkIntervalMs ?? 5_000
    this.tidyInterval = options.tidy != null ? (options.tidyIntervalMs ?? 60_000) : 0
    this.settleGrowth = options.settleGrowthBytes ?? 1024 * 1024
    this.settleBusy = options.settleBusyChecks ?? 3
    this.refillMs = options.refillMs ?? 300_000
    this.now = options.now ?? Date.now
    this.rss = options.rss ?? (() => process.memoryUsage.rss())
    this.footprint = options.footprint ?? (options.rss != null ? options.rss : anonymousOutsideYoung)
    this.utilization = options.utilization ?? eventLoopUtilizationMeter()
  }

  start (): void {
    if (this.timer != null) return
    this.utilization() // the first window starts now
    this.timer = setInterval(() => { this.check() }, this.checkMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  reclaim (reason: ReclaimResult['reason'] = 'manual'): ReclaimResult {
    const rssBefore = this.rss()
    const t0 = performance.now()
    this.options.collect()
    const rssCollected = this.rss()
    const trimmed = this.options.trim?.() ?? false
    const rssTrimmed = this.rss()
    const fileRelease = this.options.release?.()
    const durationMs = performance.now() - t0
    const rssAfter = this.rss()
    const result: ReclaimResult = { at: this.now(), rssBefore, rssAfter, returnedBytes: rssBefore - rssAfter, durationMs, trimmed, trimmedBytes: rssCollected - rssTrimmed, reason, ...(fileRelease != null ? { fileRelease } : {}) }
    const c = this.counters
    c.reclaims++
    if (reason === 'settle') c.settleReclaims++
    this.spell = false
    c.returnedBytes += Math.max(0, result.returnedBytes)
    c.trimmedBytes += Math.max(0, result.trimmedBytes)
    c.fileReleasedBytes += fileRelease?.droppedBytes ?? 0
    c.durationMs += durationMs
    c.last = result
    c.baselineRss = rssAfter
    c.baselineFootprint = this.footprint()
    c.baselineRaisedBytes = 0
    this.refillUntil = this.now() + this.refillMs
    // the collection ran on the loop: it must not count as the next window's activity
    this.utilization()
    this.quietSince = this.now()
    this.lastCollectAt = this.quietSince
    this.safeDispatchEvent('reclaim', { detail: result })
    return result
  }

  /** A tidy now (a plain major collection); the reclaim's baseline is left alone. */
  private runTidy (t: number): void {
    const t0 = performance.now()
    this.options.tidy?.()
    if (this.options.tidyTrim === true) this.options.trim?.()
    this.counters.tidies++
    this.counters.tidyMs += performance.now() - t0
    this.lastCollectAt = t
    this.utilization()
  }

  check (): ReclaimResult | undefined {
    const t = this.now()
    const elu = this.utilization()
    if (elu > this.maxElu || this.options.busy?.() === true) {
      this.counters.busyChecks++
      if (++this.busyRun >= this.settleBusy) {
        this.spell = true
        this.refillUntil = -Infinity
      }
      this.quietSince = undefined
      return undefined
    }
    this.busyRun = 0
    // this check covers the interval before it: the quiet period began one interval ago
    this.quietSince ??= t - this.checkMs
    if (t - this.quietSince < this.quietMs) return undefined
    const c = this.counters
    if (c.last == null) return this.reclaim('idle')
    if (t <= this.refillUntil && c.baselineFootprint != null) {
      const now = this.footprint()
      if (now > c.baselineFootprint) {
        c.baselineRaisedBytes = (c.baselineRaisedBytes ?? 0) + now - c.baselineFootprint
        c.baselineFootprint = now
      }
    }
    if (t - c.last.at >= this.minInterval) {
      const grown = c.baselineFootprint == null ? Infinity : this.footprint() - c.baselineFootprint
      if (grown >= this.minGrowth) return this.reclaim('idle')
      if (this.settleGrowth > 0 && this.spell && grown >= this.settleGrowth) return this.reclaim('settle')
    }
    if (this.tidyInterval > 0 && t - this.lastCollectAt >= this.tidyInterval) this.runTidy(t)
    return undefined
  }

  stats (): MemoryReclaimStats {
    const c = this.counters
    return { ...c, ...(c.last != null ? { last: { ...c.last } } : {}) }
  }
}

export function createMemoryReclaimer (options: MemoryReclaimOptions): MemoryReclaimer {
  return new Reclaimer(options)
}

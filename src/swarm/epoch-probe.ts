/**
 * When to ask the creator's key service whether we missed a rotation (member.ts `probeEpoch`).
 *
 * Why: a member whose key push failed inside `rotate()` (its handler too slow under load, a
 * connection reset) gets no `switch` either. It used to notice only at a watchdog tick where it
 * had no swarm connection left, or once its membership statement went stale (up to 5 min). Two
 * members that both missed the push stay connected to each other on the old key and looked
 * healthy to each other all that time (seen at 100 nodes: 2 of 50 missed the new epoch).
 *
 * The signal used instead: the creator's connection closed (its host switches at the end of every
 * rotation) and it does not come back. After `delayMs` (jittered, so 50 members do not ask at the
 * same instant) the member probes; a probe that cannot reach the key service is retried with
 * doubling waits, at most `maxAttempts` times, then the watchdog's slower path takes over. The
 * watchdog also starts a probe when the creator has been away and none ran for `minIntervalMs`
 * (a missed event).
 */
import { InvalidArgumentError } from '../errors.js'
import type { Logger } from '../logging.js'
import type { SwarmStore } from './store.js'

export interface EpochProbeInit {
  store: SwarmStore
  log: Logger
  /** The probe itself, run inside the store's `op`: `epoch` is the one held when the creator went away. */
  probe: (epoch: number) => Promise<string>
  /** Wait after the creator's connection closed before probing (doubled at random up to 2x). */
  delayMs: number
  maxAttempts?: number
  maxBackoffMs?: number
  minIntervalMs?: number
}

export interface EpochProbeStats {
  /** Probes run (each one key request at most). */
  runs: number
  /** Probes that found a newer epoch and switched to it. */
  moved: number
  /** Probes whose key service could not be reached. */
  failed: number
}

export class EpochProbe {
  readonly stats: EpochProbeStats = { runs: 0, moved: 0, failed: 0 }
  private timer?: ReturnType<typeof setTimeout>
  private attempts = 0
  private lastRunAt = 0
  private stopped = false

  constructor (private readonly init: EpochProbeInit) {
    // NaN or a negative delay would make every retry wait NaN ms (at once): a tight loop on the key service
    if (!Number.isFinite(init.delayMs) || init.delayMs < 0) throw new InvalidArgumentError(`epochProbeDelayMs must be a finite number >= 0, got ${String(init.delayMs)}`)
  }

  /** The creator's connection closed (or the watchdog found it gone): probe soon unless one is due. */
  creatorLost (fromWatchdog = false): void {
    if (this.stopped || this.timer != null) return
    if (fromWatchdog && Date.now() - this.lastRunAt < (this.init.minIntervalMs ?? 60_000)) return
    // the epoch held now: a switch that is already queued (a `switch` arrives before the creator's
    // host goes down) moves us off it, and the probe then has nothing to do
    const epoch = this.init.store.state?.epoch
    if (epoch != null) this.schedule(this.init.delayMs * (1 + Math.random()), epoch)
  }

  start (): void {
    this.stopped = false
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule (ms: number, epoch: number): void {
    this.timer = setTimeout(() => { void this.run(epoch) }, ms)
    this.timer.unref?.()
  }

  private async run (epoch: number): Promise<void> {
    if (this.stopped) { this.timer = undefined; return }
    this.lastRunAt = Date.now()
    try {
      const outcome = await this.init.store.op(async () => await this.init.probe(epoch))
      if (outcome !== 'skipped') this.stats.runs++
      if (outcome === 'moved') this.stats.moved++
      this.attempts = 0
      this.timer = undefined
    } catch (err) {
      this.stats.runs++
      this.stats.failed++
      this.attempts++
      if (this.stopped || this.attempts >= (this.init.maxAttempts ?? 6)) {
        this.init.log.warn({ err, attempts: this.attempts }, 'the creator\'s key service did not answer; the watchdog takes over')
        this.attempts = 0
        this.timer = undefined
        return
      }
      const retryInMs = Math.min(this.init.maxBackoffMs ?? 30_000, this.init.delayMs * 2 ** this.attempts)
      this.init.log.warn({ err, retryInMs }, 'cannot reach the creator\'s key service to check the key epoch; trying again')
      this.schedule(retryInMs, this.init.store.state?.epoch ?? epoch)
    }
  }
}

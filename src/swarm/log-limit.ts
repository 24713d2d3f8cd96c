/**
 * Rate limit for refusal log lines: a hostile peer repeating a refused request must not be able to
 * fill the log. One line per key (peer + reason) per interval; the lines skipped in between are
 * counted and reported with the next one. Memory is bounded (the table is cleared when full).
 */
export class LogLimiter {
  private readonly last = new Map<string, { at: number, suppressed: number }>()

  constructor (private readonly intervalMs: number, private readonly maxKeys = 10_000) {}

  /** `undefined`: skip this line; a number: log it, reporting that many suppressed before it. */
  take (key: string, now: number = Date.now()): number | undefined {
    const e = this.last.get(key)
    if (e != null && now - e.at < this.intervalMs) {
      e.suppressed++
      return undefined
    }
    if (e == null && this.last.size >= this.maxKeys) this.last.clear()
    this.last.set(key, { at: now, suppressed: 0 })
    return e?.suppressed ?? 0
  }
}

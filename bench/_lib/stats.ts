/**
 * Statistics shared by the benchmarks: medians over runs, tail percentiles and the
 * `{ min, median, max }` summaries every result JSON carries.
 */

/** Rounds to `d` decimals (JSON results keep a readable precision). */
export const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d

/** The median (mean of the two middle values for an even count). */
export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** The nearest-rank percentile, `p` in [0, 1]. */
export function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

/** Min, median and max, each rounded to one decimal. */
export function minMedianMax (xs: number[]): { min: number, median: number, max: number } {
  return { min: round(Math.min(...xs)), median: round(median(xs)), max: round(Math.max(...xs)) }
}

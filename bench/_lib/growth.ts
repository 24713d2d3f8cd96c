/**
 * How fast an idle daemon's retained memory grows, from RSS samples that saw-tooth with garbage
 * collection (bench/idle.ts; validated in bench/idle-validate.ts).
 *
 * Why not the slope of the samples: an idle daemon allocates a few MB every ~80 s and gives them
 * back at a collection or the idle reclaim; over 3 minutes that sawtooth (3-11 MB high) swamps a
 * growth of a few MB per hour, and where a 3-minute window starts and ends on the saw decides the
 * slope's sign. What a leak raises is the floor the sawtooth returns to. So: the lowest sample of
 * each bucket (default 30 s: each holds a trough, a collection or a reclaim most of the time), and
 * the Theil-Sen slope through those minima (the median of the slopes of every pair), which ignores
 * a bucket that happened to hold no trough, where least squares follows it. Its 95 % interval is
 * Sen's (1968): the order statistics of the pair slopes that Kendall's tau puts around the median.
 */

export interface Point { x: number, y: number }

export interface RobustSlope {
  slope: number
  /** Sen's ~95 % confidence interval of the slope (NaN with fewer than 3 points) */
  lo: number
  hi: number
  /** points used */
  n: number
}

/**
 * The lowest sample of each `bucket`-wide interval of x, counted from the first sample. A last
 * bucket that covers less than half the width is left out: the minimum of one or two samples is
 * no floor, and it would pull the end of the line up.
 */
export function bucketMinima (points: Point[], bucket: number): Point[] {
  if (points.length === 0) return []
  const x0 = points[0]!.x
  const last = Math.floor((points[points.length - 1]!.x - x0) / bucket)
  const partial = points[points.length - 1]!.x - x0 - last * bucket < bucket / 2
  const minima = new Map<number, Point>()
  for (const p of points) {
    const b = Math.floor((p.x - x0) / bucket)
    if (partial && b === last && last > 0) continue
    const cur = minima.get(b)
    if (cur == null || p.y < cur.y) minima.set(b, p)
  }
  return [...minima.values()]
}

/** Theil-Sen slope with Sen's ~95 % interval (z = 1.96, no tie correction). */
export function theilSen (points: Point[]): RobustSlope {
  const n = points.length
  const slopes: number[] = []
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = points[j]!.x - points[i]!.x
      if (dx !== 0) slopes.push((points[j]!.y - points[i]!.y) / dx)
    }
  }
  if (slopes.length === 0) return { slope: 0, lo: NaN, hi: NaN, n }
  slopes.sort((a, b) => a - b)
  const m = slopes.length
  const med = m % 2 === 1 ? slopes[(m - 1) / 2]! : (slopes[m / 2 - 1]! + slopes[m / 2]!) / 2
  if (n < 3) return { slope: med, lo: NaN, hi: NaN, n }
  const c = 1.96 * Math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
  // Sen: the M1-th and (M2 + 1)-th smallest pair slopes (1-based), M1,2 = (m -/+ c) / 2
  const lo = slopes[Math.min(m - 1, Math.max(0, Math.round((m - c) / 2) - 1))]!
  const hi = slopes[Math.min(m - 1, Math.max(0, Math.round((m + c) / 2)))]!
  return { slope: med, lo, hi, n }
}

/**
 * Growth of the floor, in y units per x unit: Theil-Sen through the per-bucket minima. With x in
 * hours and y in MB, MB per hour.
 */
export function floorGrowth (points: Point[], bucket: number): RobustSlope {
  return theilSen(bucketMinima(points, bucket))
}

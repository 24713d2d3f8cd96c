/**
 * Checks `bench idle`'s growth figure (bench/_lib/growth.ts) against runs where the answer is known,
 * from the samples `bench idle --samples-out <file>` wrote (every node's RSS every `--sample` s):
 *  (a) a long run: each node's growth over the whole run after warm-up (the same estimator on 12+
 *      minutes, where the sawtooth no longer decides it) is taken as the truth, and every
 *      `--window`-second slice of the run (sliding by `--step` s) is estimated alone, as a 3-minute
 *      `bench idle` would: how often the slice's 95 % interval holds the long figure (`coverage`),
 *      how far its estimate lands from it (`abs_err_mb_per_h` median / p90 / max), against the same
 *      for the least-squares slope of the raw samples (what the bench reported before);
 *  (b) a positive control: with `--leak-nodes odd` the odd daemons ran with
 *      bench/_lib/leak-preload.mjs (`--ab-flags "--import=<repo>/bench/_lib/leak-preload.mjs"`),
 *      which retains `--leak-mb-per-min` (1) MB a minute; each of their slices must show it: the
 *      share of slices whose interval is above 0 (`detected`) and whose interval holds the nominal
 *      rate plus the plain nodes' own long growth (`covers_nominal`).
 * No daemon runs here: it reads the file.
 *
 * Usage: npm run bench -- idle-validate --samples <file> [--window 180] [--step 30] [--bucket 30]
 *        [--leak-nodes none|odd] [--leak-mb-per-min 1]
 * stdout: one JSON line per profile in the file; progress on stderr.
 */
import { readFileSync } from 'node:fs'
import { slope } from './_lib/daemons.js'
import { floorGrowth, type Point } from './_lib/growth.js'
import { numArg, progress, writeJsonLine } from './_lib/process.js'
import { median, round } from './_lib/stats.js'

const log = progress('idle-validate')
const i = process.argv.indexOf('--samples')
const file = i >= 0 ? process.argv[i + 1] : undefined
if (file == null) {
  console.error('usage: npm run bench -- idle-validate --samples <file written by bench idle --samples-out>')
  process.exit(2)
}
const WINDOW_S = numArg('window', 180)
const STEP_S = numArg('step', 30)
const BUCKET_S = numArg('bucket', 30)
const LEAK_MB_PER_H = numArg('leak-mb-per-min', 1) * 60
const li = process.argv.indexOf('--leak-nodes')
const LEAK_ODD = li >= 0 && process.argv[li + 1] === 'odd'

interface Trace { profile: string, warmup_s: number, nodes: Array<{ name: string, samples: number[][] }> }

const perH = (p: Array<[number, number]>): Point[] => p.map(([s, mb]) => ({ x: s / 3600, y: mb }))
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}

interface Slice { est: number, lo: number, hi: number, raw: number }

function slices (pts: Array<[number, number]>, from: number): Slice[] {
  const out: Slice[] = []
  const end = pts[pts.length - 1]![0]
  for (let t = from; t + WINDOW_S <= end + 1e-6; t += STEP_S) {
    const w = pts.filter(([s]) => s >= t && s <= t + WINDOW_S)
    if (w.length < 3) continue
    const g = floorGrowth(perH(w), BUCKET_S / 3600)
    out.push({ est: g.slope, lo: g.lo, hi: g.hi, raw: slope(w.map(([s]) => s / 3600), w.map(([, mb]) => mb)) })
  }
  return out
}

function errors (xs: number[], truth: number): Record<string, number> {
  const e = xs.map(x => Math.abs(x - truth))
  return { median: round(median(e), 1), p90: round(quantile(e, 0.9), 1), max: round(Math.max(...e), 1) }
}

function validate (trace: Trace): Record<string, unknown> {
  const per = trace.nodes.map((n, idx) => {
    const pts = n.samples.filter(s => s[0]! >= trace.warmup_s).map(s => [s[0]!, s[1]!] as [number, number])
    const long = floorGrowth(perH(pts), BUCKET_S / 3600)
    return { name: n.name, leaky: LEAK_ODD && idx % 2 === 1, span_s: round(pts[pts.length - 1]![0] - pts[0]![0]), long, sl: slices(pts, pts[0]![0]) }
  })
  const plain = per.filter(p => !p.leaky)
  const leaky = per.filter(p => p.leaky)
  const plainLong = median(plain.map(p => p.long.slope))
  const nodes = per.map(p => {
    const truth = p.leaky ? LEAK_MB_PER_H + plainLong : p.long.slope
    const covered = p.sl.filter(s => s.lo <= truth && truth <= s.hi).length
    return {
      name: p.name,
      leaky: p.leaky,
      span_s: p.span_s,
      long_mb_per_h: round(p.long.slope, 1),
      long_ci95: [round(p.long.lo, 1), round(p.long.hi, 1)],
      truth_mb_per_h: round(truth, 1),
      slices: p.sl.length,
      coverage: round(covered / p.sl.length, 2),
      detected: round(p.sl.filter(s => s.lo > 0).length / p.sl.length, 2),
      estimate_mb_per_h: { min: round(Math.min(...p.sl.map(s => s.est)), 1), median: round(median(p.sl.map(s => s.est)), 1), max: round(Math.max(...p.sl.map(s => s.est)), 1) },
      ci_half_width_median: round(median(p.sl.map(s => (s.hi - s.lo) / 2)), 1),
      abs_err_mb_per_h: errors(p.sl.map(s => s.est), truth),
      raw_abs_err_mb_per_h: errors(p.sl.map(s => s.raw), truth),
      raw_mb_per_h: { min: round(Math.min(...p.sl.map(s => s.raw)), 1), median: round(median(p.sl.map(s => s.raw)), 1), max: round(Math.max(...p.sl.map(s => s.raw)), 1) }
    }
  })
  for (const n of nodes) log(`${trace.profile} ${n.name}: ${JSON.stringify(n)}`)
  const all = (f: (n: typeof nodes[number]) => number, which: typeof nodes): number => round(median(which.map(f)), 2)
  const plainNodes = nodes.filter(n => !n.leaky)
  const leakyNodes = nodes.filter(n => n.leaky)
  return {
    profile: trace.profile,
    window_s: WINDOW_S,
    step_s: STEP_S,
    bucket_s: BUCKET_S,
    nodes: nodes.length,
    plain_long_mb_per_h_median: round(plainLong, 1),
    plain_coverage_median: plainNodes.length > 0 ? all(n => n.coverage, plainNodes) : null,
    plain_coverage_min: plainNodes.length > 0 ? Math.min(...plainNodes.map(n => n.coverage)) : null,
    plain_abs_err_median: plainNodes.length > 0 ? all(n => n.abs_err_mb_per_h.median!, plainNodes) : null,
    plain_raw_abs_err_median: plainNodes.length > 0 ? all(n => n.raw_abs_err_mb_per_h.median!, plainNodes) : null,
    leak_nominal_mb_per_h: leaky.length > 0 ? LEAK_MB_PER_H : null,
    leak_detected_min: leakyNodes.length > 0 ? Math.min(...leakyNodes.map(n => n.detected)) : null,
    leak_coverage_median: leakyNodes.length > 0 ? all(n => n.coverage, leakyNodes) : null,
    leak_estimate_median: leakyNodes.length > 0 ? all(n => n.estimate_mb_per_h.median, leakyNodes) : null,
    per_node: nodes
  }
}

for (const line of readFileSync(file, 'utf8').split('\n').filter(l => l.trim() !== '')) {
  writeJsonLine(validate(JSON.parse(line) as Trace))
}

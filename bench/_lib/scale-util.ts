/**
 * Small helpers of the scale bench: bounded-concurrency maps, bounded polling, per-process CPU and
 * RSS from /proc, and percentile summaries that survive empty samples.
 */
import { readFileSync } from 'node:fs'
import { percentile, round } from './stats.js'

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function pool<T, R> (items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  async function worker (): Promise<void> {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/** Polls `check` every `everyMs` until it returns true; false when `timeoutMs` passed first. */
export async function pollUntil (check: () => Promise<boolean>, timeoutMs: number, everyMs = 1000): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() >= end) return false
    await new Promise(resolve => setTimeout(resolve, Math.min(everyMs, Math.max(0, end - Date.now()))))
  }
}

/** utime + stime of a process in clock ticks (USER_HZ = 100 on Linux), or undefined when it is gone. */
export function cpuTicks (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name may hold spaces: fields start after the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  } catch {
    return undefined
  }
}

/** Resident memory of a process in MB (VmRSS), or undefined when it is gone. */
export function rssMb (pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m == null ? undefined : Number(m[1]) / 1024
  } catch {
    return undefined
  }
}

/** CPU % of one core per process over `windowMs` (read from /proc at both ends). */
export async function cpuPercent (pids: number[], windowMs: number): Promise<Array<number | undefined>> {
  return (await cpuPercentSliced(pids, windowMs, windowMs)).whole
}

/**
 * CPU % of one core per process over `windowMs`, and over each `sliceMs` slice of it. The whole
 * window is the figure; the slices show what a short window would have caught: a job that runs
 * every few minutes (a routing-table refresh) puts one node over 1% in the slice it lands in.
 */
export async function cpuPercentSliced (pids: number[], windowMs: number, sliceMs: number): Promise<{ whole: Array<number | undefined>, slices: Array<Array<number | undefined>> }> {
  const marks: Array<{ at: number, ticks: Array<number | undefined> }> = [{ at: performance.now(), ticks: pids.map(cpuTicks) }]
  const end = marks[0]!.at + windowMs
  while (marks[marks.length - 1]!.at < end - 1) {
    const wait = Math.min(sliceMs, end - marks[marks.length - 1]!.at)
    await new Promise(resolve => setTimeout(resolve, wait))
    marks.push({ at: performance.now(), ticks: pids.map(cpuTicks) })
  }
  const pct = (a: { at: number, ticks: Array<number | undefined> }, b: { at: number, ticks: Array<number | undefined> }, i: number): number | undefined =>
    a.ticks[i] == null || b.ticks[i] == null ? undefined : (b.ticks[i]! - a.ticks[i]!) / 100 / ((b.at - a.at) / 1000) * 100
  const first = marks[0]!
  const last = marks[marks.length - 1]!
  return {
    whole: pids.map((_, i) => pct(first, last, i)),
    slices: pids.map((_, i) => marks.slice(1).map((m, k) => pct(marks[k]!, m, i)))
  }
}

export interface Tail { n: number, p50: number | null, p95: number | null, p99: number | null, max: number | null }

/** p50/p95/p99/max rounded to 0.1, or nulls when there is no sample. */
export function tail (xs: number[]): Tail {
  if (xs.length === 0) return { n: 0, p50: null, p95: null, p99: null, max: null }
  return { n: xs.length, p50: round(percentile(xs, 0.5)), p95: round(percentile(xs, 0.95)), p99: round(percentile(xs, 0.99)), max: round(Math.max(...xs)) }
}

/** Picks `k` distinct random elements (or all when fewer). */
export function sample<T> (xs: T[], k: number, random: () => number): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = a[i]!
    a[i] = a[j]!
    a[j] = t
  }
  return a.slice(0, k)
}

/** Consumes a control stream in the background until `signal` aborts; errors other than the abort go to `onError`. */
export async function drain<T> (it: AsyncGenerator<T>, signal: AbortSignal, onItem: (x: T) => void, onError: (e: Error) => void): Promise<void> {
  try {
    for await (const x of it) onItem(x)
  } catch (err) {
    if (!signal.aborted) onError(err as Error)
  }
}

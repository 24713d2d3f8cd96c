/**
 * Per-phase context of a scale run: how long the phase took, the machine's load average during it
 * (sampled, since 100 daemons on 2 cores are often the cause of a slow figure), and what the link
 * process did meanwhile (packets, drops, and how late it let packets go beyond their configured
 * delay). A figure without this cannot tell the protocol from the machine or the delay line.
 */
import { loadavg } from 'node:os'
import { round } from './stats.js'
import type { LinkdStats } from './scale-linkd.js'

export interface PhaseRecord {
  phase: string
  ms: number
  /** 1-minute load average at the start, at the end, and the highest sampled in between */
  load1m: { start: number, end: number, max: number }
  link: {
    packets: number
    lost: number
    overflow: number
    /** mean and worst ms a packet stayed in the link beyond its configured delay (late wakeups) */
    lateMeanMs: number
    lateMaxMs: number
    /** packets more than 5 ms late */
    late5ms: number
    /** most packets held at once, and the worst wait behind a node's uplink cap */
    heldMax: number
    queueWaitMaxMs: number
  }
}

type Stats = (resetPeaks: boolean) => Promise<LinkdStats>

/** Runs `fn` as the phase `name`, records its context into `into`, and returns its result. */
export async function phase<T> (name: string, into: PhaseRecord[], stats: Stats, fn: () => Promise<T>): Promise<T> {
  const load = (): number => round(loadavg()[0]!, 1)
  const start = load()
  let max = start
  const sampler = setInterval(() => { max = Math.max(max, load()) }, 5000)
  const before = await stats(true)
  const t0 = Date.now()
  try {
    return await fn()
  } finally {
    clearInterval(sampler)
    const after = await stats(true).catch(() => undefined)
    const end = load()
    const d = (k: 'delivered' | 'lost' | 'overflow' | 'lateSumMs' | 'late5ms'): number => after == null ? 0 : after[k] - before[k]
    into.push({
      phase: name,
      ms: Date.now() - t0,
      load1m: { start, end, max: Math.max(max, end) },
      link: {
        packets: d('delivered'),
        lost: d('lost'),
        overflow: d('overflow'),
        lateMeanMs: round(d('lateSumMs') / Math.max(1, d('delivered')), 2),
        lateMaxMs: after?.lateMaxMs ?? 0,
        late5ms: d('late5ms'),
        heldMax: after?.heldMax ?? 0,
        queueWaitMaxMs: round(after?.queueWaitMaxMs ?? 0, 1)
      }
    })
  }
}

/** One line for the progress log. */
export function describePhase (p: PhaseRecord): string {
  return `${p.phase}: ${Math.round(p.ms / 1000)} s, load ${p.load1m.start} -> ${p.load1m.end} (max ${p.load1m.max}); ` +
    `link ${p.link.packets} packets, extra hold mean ${p.link.lateMeanMs} ms max ${p.link.lateMaxMs} ms (${p.link.late5ms} > 5 ms), ` +
    `queue depth max ${p.link.heldMax}, uplink wait max ${p.link.queueWaitMaxMs} ms`
}

/**
 * Per-phase context of a scale run: how long the phase took, the machine's load average during it
 * (sampled, since 100 daemons on 2 cores are often the cause of a slow figure), and what the link
 * process did meanwhile (packets, drops, and how late it let packets go beyond their configured
 * delay). A figure without this cannot tell the protocol from the machine or the delay line.
 */
import { loadavg } from 'node:os'
import { readFileSync } from 'node:fs'
import { round } from './stats.js'
import { cpuTicks } from './scale-util.js'
import type { LinkdStats } from './scale-linkd.js'

export interface PhaseRecord {
  phase: string
  ms: number
  /** start and end on the machine's monotonic clock in µs (V8 CPU profiles' time base) */
  monoUs: [number, number]
  /** 1-minute load average at the start, at the end, and the highest sampled in between */
  load1m: { start: number, end: number, max: number }
  /**
   * CPU during the phase: all daemons together in % of one core, their mean per daemon, and the
   * whole machine's busy share in % of one core (200 = both cores): what the phase's figures were
   * measured against.
   */
  cpu: { daemonsPct: number, perDaemonPct: number, machinePct: number }
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

const monoUs = (): number => Number(process.hrtime.bigint() / 1000n)

/** Total and idle jiffies of the whole machine (/proc/stat's first line). */
function machineTicks (): { total: number, idle: number } {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  return { total: v.reduce((a, b) => a + b, 0), idle: v[3]! + v[4]! }
}

/** CPU used between two readings: the given processes (sum, % of one core) and the machine. */
export function cpuMeter (pids: number[]): () => PhaseRecord['cpu'] {
  const t0 = performance.now()
  const m0 = machineTicks()
  const p0 = pids.map(cpuTicks)
  return () => {
    const secs = Math.max(0.001, (performance.now() - t0) / 1000)
    const m1 = machineTicks()
    let sum = 0
    let n = 0
    pids.forEach((pid, i) => { const b = cpuTicks(pid); if (b != null && p0[i] != null) { sum += (b - p0[i]!) / 100 / secs * 100; n++ } })
    const total = m1.total - m0.total
    return {
      daemonsPct: round(sum, 1),
      perDaemonPct: round(sum / Math.max(1, n), 2),
      machinePct: round(total > 0 ? (1 - (m1.idle - m0.idle) / total) * 100 * (m1.total - m0.total) / (secs * 100) : 0, 1)
    }
  }
}

/**
 * Runs `fn` as the phase `name`, records its context into `into`, and returns its result. `pids`
 * are the daemons whose CPU the phase record sums.
 */
export async function phase<T> (name: string, into: PhaseRecord[], stats: Stats, fn: () => Promise<T>, pids: number[] = []): Promise<T> {
  const load = (): number => round(loadavg()[0]!, 1)
  const start = load()
  let max = start
  const sampler = setInterval(() => { max = Math.max(max, load()) }, 5000)
  const before = await stats(true)
  const t0 = Date.now()
  const meter = cpuMeter(pids)
  const mono0 = monoUs()
  try {
    return await fn()
  } finally {
    clearInterval(sampler)
    const cpu = meter()
    const after = await stats(true).catch(() => undefined)
    const end = load()
    const d = (k: 'delivered' | 'lost' | 'overflow' | 'lateSumMs' | 'late5ms'): number => after == null ? 0 : after[k] - before[k]
    into.push({
      phase: name,
      ms: Date.now() - t0,
      monoUs: [mono0, monoUs()],
      load1m: { start, end, max: Math.max(max, end) },
      cpu,
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
    `CPU daemons ${p.cpu.daemonsPct}% (${p.cpu.perDaemonPct}% each), machine ${p.cpu.machinePct}% of 200; ` +
    `link ${p.link.packets} packets, extra hold mean ${p.link.lateMeanMs} ms max ${p.link.lateMaxMs} ms (${p.link.late5ms} > 5 ms), ` +
    `queue depth max ${p.link.heldMax}, uplink wait max ${p.link.queueWaitMaxMs} ms`
}

export interface Settle {
  /** ms from convergence until the daemons' mean CPU stayed at or below the bar (null: never within the bound) */
  ms: number | null
  /** per 10-s window: mean CPU per daemon (% of a core) and the machine's busy share (% of one core, of 200) */
  trace: Array<{ perDaemonPct: number, machinePct: number }>
}

/**
 * Waits until the daemons have finished starting up: their mean CPU over `windows` 10-s windows
 * in a row at or below `pct` % of a core, at most `maxMs`. On this 2-core machine 100 daemons that have just
 * joined (routing-table refreshes, AutoNAT probes, connection trimming) use both cores for
 * minutes, and every latency measured meanwhile is the machine's queue, not the protocol's; in a
 * real deployment each node starts on its own machine at its own time.
 */
export async function waitSettled (pids: number[], pct: number, maxMs: number, log: (m: string) => void, windows = 2): Promise<Settle> {
  const t0 = Date.now()
  const trace: Settle['trace'] = []
  // one quiet window can be a dip between routing-table refreshes (ninth round's repeat: 1.21,
  // 1.23, 0.68 %, then the DHT phase began at ~1.2 %): the bar must hold for `windows` in a row
  let under = 0
  while (Date.now() - t0 < maxMs) {
    const meter = cpuMeter(pids)
    await new Promise(resolve => setTimeout(resolve, 10_000))
    const c = meter()
    trace.push({ perDaemonPct: c.perDaemonPct, machinePct: c.machinePct })
    log(`settling: daemons ${c.perDaemonPct}% each (bar ${pct}%), machine ${c.machinePct}% of 200`)
    under = c.perDaemonPct <= pct ? under + 1 : 0
    if (under >= windows) return { ms: Date.now() - t0, trace }
  }
  return { ms: null, trace }
}

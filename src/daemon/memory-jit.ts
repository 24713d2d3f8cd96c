/**
 * V8's optimising compiler (TurboFan) on demand (issue 10, stop 29), opt-in: a daemon started with
 * `--max-opt=2` (added by the operator to `DMSNET_NODE_FLAGS`; not in the default list) runs its
 * JavaScript in the interpreter, Sparkplug and Maglev, and this gate turns TurboFan on, for
 * good, once the daemon carries real work: its process used at least `memory.turbofanCpuPct` % of a
 * core over one check (5 s), its event loop was busy >= 5 % of the time for 3 checks in a row
 * (`BUSY_CHECKS`, below), or the VPN's data path is loaded. `memory.turbofanCpuPct: 0` turns it
 * on at start. The first check after start (start-up: the bundle compiled, libp2p started) is not
 * judged. Without the flag the gate does nothing (status `turbofanReason: 'flags'`).
 *
 * What it buys: a process that ran TurboFan once keeps its code pages of the node binary resident
 * (~6 MB of `.text`, shared between node processes but counted in each one's RSS; on a host of its
 * own they are never read from disk). bench idle, 40 daemons (39 peers), same-run A/B against
 * main: RSS 70.8 against 77.45 MB median, file-backed 44.8 against 50.6, PSS 27.2 against 28.3.
 * What it costs: idle CPU 0.70 against 0.46 % of a core in that run (every flagged daemon above
 * every plain one): what an idle daemon runs (gossip heartbeats, the metrics scrape, yamux/Noise
 * framing) is slower without TurboFan, and it never gets near 25 % to open the gate. A tight loop
 * runs ~15x slower; a daemon moving bulk data crosses 25 % within one check. Tried as the
 * default in stop 37 (docs/network.md, "A baseline after the refill, and TurboFan on demand tried
 * as the default"): idle daemons' memory was flatter (no function tiering up one at a time for an
 * hour), but 100 daemons on two cores ran their phases without TurboFan and missed issue 10's
 * gossip and DHT latency targets.
 *
 * Raising works at run time: `v8.setFlagsFromString('--max-opt=999')` and `'--turbofan'` (both: V8
 * turns `--turbofan` off by implication under `--max-opt` < 3); functions already running tier up
 * at their next budget check (test/daemon/memory-jit.spec.ts checks it on a real V8). It must be a
 * start flag: `--trace-opt` shows TurboFan compiling node's own path helpers before the daemon's
 * code runs.
 */
import { setFlagsFromString } from 'node:v8'
import { eventLoopUtilizationMeter } from './memory-reclaim.js'

/** How the gate reads the process's CPU time and the clock; injectable for tests. */
export interface JitGateOptions {
  /** % of one core over one check at or above which TurboFan goes on; 0 = at start */
  cpuPct: number
  /** ms between checks (5000) */
  intervalMs?: number
  /** whether TurboFan may currently be off in this process (node flag `--max-opt` < 3) */
  limited?: boolean
  /** also on when this says so (the VPN's data path is loaded) */
  wanted?: () => boolean
  /** event-loop utilisation (0-1) since the previous call; default node's meter */
  utilization?: () => number
  /** CPU time used by the process, µs (process.cpuUsage user + system) */
  cpuMicros?: () => number
  now?: () => number
  /** turns TurboFan on (default: V8 flags) */
  raise?: () => void
}

export interface JitGate {
  start: () => void
  stop: () => void
  /** runs one check now (the timer calls it); exported for tests */
  check: () => void
  status: () => JitStatus
}

export interface JitStatus {
  /** 'on': TurboFan allowed; 'on demand': not yet (this process started with --max-opt < 3) */
  turbofan: 'on' | 'on demand'
  /** why it went on: 'start' (cpuPct 0), 'cpu', 'busy' (a busy event loop), 'vpn', 'flags' (the process was not limited) */
  turbofanReason: 'start' | 'cpu' | 'busy' | 'vpn' | 'flags' | null
  turbofanAt: string | null
}

/** Turns V8's optimising compiler on for the rest of this process. */
export function raiseOptimizationTier (): void {
  setFlagsFromString('--max-opt=999')
  setFlagsFromString('--turbofan')
}

/** Whether this node process was started with TurboFan limited away (`--max-opt=N`, N < 3). */
export function turbofanLimited (execArgv: readonly string[] = process.execArgv): boolean {
  let limited = false
  for (const f of execArgv) {
    const m = /^--max[-_]opt=(\d+)$/.exec(f)
    if (m != null) limited = Number(m[1]) < 3
    if (f === '--no-turbofan' || f === '--no-opt') limited = true
  }
  return limited
}

/**
 * The gate also opens after this many checks in a row with the event loop busy at least
 * `BUSY_ELU` of the wall time (the reclaim's "busy spell", memory-reclaim.ts). Why (stop 37):
 * CPU share alone misses a daemon with work on a host short of CPU: at N=100 on two cores
 * (bench scale) no daemon can reach 25 % of a core. An idle daemon's loop is busy ~0.5 % of the
 * time. It did not save that run's latency targets (the default stayed TurboFan from the start).
 */
const BUSY_ELU = 0.05
const BUSY_CHECKS = 3

export function createJitGate (opts: JitGateOptions): JitGate {
  const interval = opts.intervalMs ?? 5000
  const cpuMicros = opts.cpuMicros ?? (() => { const u = process.cpuUsage(); return u.user + u.system })
  const now = opts.now ?? Date.now
  const raise = opts.raise ?? raiseOptimizationTier
  const utilization = opts.utilization ?? eventLoopUtilizationMeter()
  let busyRun = 0
  const limited = opts.limited ?? turbofanLimited()
  let on = !limited
  let reason: JitStatus['turbofanReason'] = limited ? null : 'flags'
  let at: number | null = null
  let timer: ReturnType<typeof setInterval> | undefined
  let lastCpu = 0
  let lastAt = 0
  /** the first window after start() is start-up's (libp2p starting, the first dials): not judged */
  let judged = false

  const turnOn = (why: NonNullable<JitStatus['turbofanReason']>): void => {
    if (on) return
    raise()
    on = true
    reason = why
    at = now()
    if (timer != null) clearInterval(timer)
    timer = undefined
  }

  const check = (): void => {
    if (on) return
    if (opts.wanted?.() === true) {
      turnOn('vpn')
      return
    }
    const cpu = cpuMicros()
    const t = now()
    const wall = t - lastAt
    const used = cpu - lastCpu
    const elu = utilization()
    lastCpu = cpu
    lastAt = t
    if (!judged) {
      judged = true
      return
    }
    // µs of CPU per ms of wall time / 10 = % of one core
    if (wall > 0 && used / wall / 10 >= opts.cpuPct) {
      turnOn('cpu')
      return
    }
    busyRun = elu >= BUSY_ELU ? busyRun + 1 : 0
    if (busyRun >= BUSY_CHECKS) turnOn('busy')
  }

  return {
    start: () => {
      if (on) return
      if (opts.cpuPct <= 0) {
        turnOn('start')
        return
      }
      lastCpu = cpuMicros()
      lastAt = now()
      utilization()
      timer = setInterval(check, interval)
      timer.unref()
    },
    stop: () => {
      if (timer != null) clearInterval(timer)
      timer = undefined
    },
    check,
    status: () => ({ turbofan: on ? 'on' : 'on demand', turbofanReason: reason, turbofanAt: at != null ? new Date(at).toISOString() : null })
  }
}

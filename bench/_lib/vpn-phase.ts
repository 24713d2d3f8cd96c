/**
 * Phase hygiene for `bench vpn`: every measured phase starts from a drained, comparable state,
 * so that a figure does not pay for what the phase before it left behind (a TUN or link queue
 * still emptying, nodes still busy, the GC work a flood left behind).
 *
 * `settle` waits (bounded) until both node processes are idle and their TUN and link queues are
 * empty; `phase` wraps one measurement with `settle` and records the nodes' garbage collections
 * during it (major GCs per phase are in the result JSON). No GC is forced between phases: a forced
 * full GC shrinks V8's heap limits, and the next phase then ran 10-15 major GCs in 3 s (0 without)
 * at half the throughput (measured with vpn-node's `gc` counts).
 */
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import type { VpnNodeProc } from '../../test/e2e/vpn-harness.js'
import type { VpnStatus } from '../../src/vpn/types.js'

/** The node processes use less than this share of one core (both together) when idle. */
const IDLE_CPU_SHARE = 0.08
/** Window over which idleness is measured. */
const IDLE_WINDOW_MS = 300
/** Longest wait for idleness; past it the phase runs anyway and `unsettled` counts it. */
const SETTLE_MAX_MS = 15_000

interface GcCounts { minor: number, major: number, pauseMs: number, majorPauseMs: number, heapUsedMb: number, arrayBuffersMb: number }

export interface PhaseLog {
  /** phases whose nodes were not idle within SETTLE_MAX_MS (they ran anyway) */
  unsettled: number
  /** ms spent settling, per phase name (summed over runs) */
  settleMs: Record<string, number>
  /** major GCs of both nodes during each phase (summed over runs) */
  gcMajor: Record<string, number>
  /** main-thread GC pause ms of both nodes during each phase (summed over runs) */
  gcPauseMs: Record<string, number>
  /** the 1-minute load average when each phase started */
  load: number[]
  /** largest V8 heap in use / ArrayBuffer bytes of either node at the end of each phase, MB */
  heapUsedMb: Record<string, number>
  arrayBuffersMb: Record<string, number>
  /**
   * Per run (`startRun`), per phase: what each node did and waited for during it (see
   * phaseCounters), so that a low run names its cause; the phase's load too.
   */
  perRun: Array<Record<string, Record<string, number>>>
  /** Extra counters read before and after every phase (e.g. B's Udp RcvbufErrors); their growth goes in perRun. */
  probe?: () => Promise<Record<string, number>>
}

export function newPhaseLog (): PhaseLog {
  return { unsettled: 0, settleMs: {}, gcMajor: {}, gcPauseMs: {}, load: [], heapUsedMb: {}, arrayBuffersMb: {}, perRun: [] }
}

/** Starts a new run's record in `log.perRun`. */
export function startRun (log: PhaseLog): void {
  log.perRun.push({})
}

/**
 * The counters a phase's growth is taken of, per node (prefix a_ / b_): GC pause ms and major GCs,
 * main thread on a CPU / runnable-waiting (ms), TUN reads and read pauses (the sender's
 * backpressure), the receiver's yields and waits for room in the receiving socket, the tunnel
 * stream's send stalls (yamux refused more: its window or the socket), link-queue drops.
 */
const TUN_KEYS = ['rxPackets', 'rxBatches', 'txPackets', 'txDrops', 'readPauses', 'readPausedMs', 'txYields', 'txYieldUs', 'txYieldsLong', 'txNaps', 'txNapUs', 'txReaderDrops', 'txRoomWaits', 'txRoomWaitUs', 'txRoomGaveUp', 'txRoomAlone'] as const

async function phaseCounters (log: PhaseLog, nodes: VpnNodeProc[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  await Promise.all(nodes.map(async n => {
    const [g, st, sch] = await Promise.all([n.call<GcCounts>('gc'), n.call<VpnStatus>('status'), n.call<{ runNs: number, waitNs: number }>('sched')])
    const p = `${n.label}_`
    out[`${p}gcPauseMs`] = g.pauseMs
    out[`${p}gcMajor`] = g.major
    out[`${p}cpuMs`] = sch.runNs / 1e6
    out[`${p}runnableMs`] = sch.waitNs / 1e6
    for (const k of TUN_KEYS) out[`${p}${k}`] = st.tun?.[k] ?? 0
    out[`${p}sendStalls`] = st.peers.reduce((s, x) => s + (x.sendStalls ?? 0), 0)
    out[`${p}sendStalledMs`] = st.peers.reduce((s, x) => s + (x.sendStalledMs ?? 0), 0)
    out[`${p}linkQueueDrops`] = st.peers.reduce((s, x) => s + x.dropQueueFull, 0)
  }))
  if (log.probe != null) Object.assign(out, await log.probe())
  return out
}

async function cpuUs (n: VpnNodeProc): Promise<number> {
  const c = await n.call<{ user: number, system: number }>('cpu')
  return c.user + c.system
}

/** Whether nothing is queued in either node's TUN write queue or per-peer link queues. */
async function queuesEmpty (nodes: VpnNodeProc[]): Promise<boolean> {
  for (const n of nodes) {
    const st = await n.call<VpnStatus>('status')
    if ((st.tun?.txPendingBytes ?? 0) > 0) return false
    if (st.peers.some(p => p.queuedBytes > 0)) return false
  }
  return true
}

/** Waits until both nodes are idle with empty queues (at most SETTLE_MAX_MS). */
export async function settle (nodes: VpnNodeProc[]): Promise<{ ms: number, settled: boolean }> {
  const t0 = Date.now()
  let settled = false
  while (Date.now() - t0 < SETTLE_MAX_MS) {
    const c0 = await Promise.all(nodes.map(cpuUs))
    const w0 = performance.now()
    await new Promise(resolve => setTimeout(resolve, IDLE_WINDOW_MS)) // the window idleness is measured over
    const c1 = await Promise.all(nodes.map(cpuUs))
    const share = c1.reduce((s, c, i) => s + c - c0[i]!, 0) / 1000 / (performance.now() - w0)
    if (share < IDLE_CPU_SHARE && await queuesEmpty(nodes)) { settled = true; break }
  }
  return { ms: Date.now() - t0, settled }
}

/** Runs `fn` as phase `name` after `settle`, recording settle time, load and the nodes' GCs during it. */
export async function phase<T> (log: PhaseLog, nodes: VpnNodeProc[], name: string, fn: () => Promise<T>): Promise<T> {
  const s = await settle(nodes)
  if (!s.settled) log.unsettled++
  log.settleMs[name] = (log.settleMs[name] ?? 0) + s.ms
  log.load.push(Math.round(loadavg()[0]! * 100) / 100)
  const k0 = await phaseCounters(log, nodes)
  const t0 = performance.now()
  const g0 = await Promise.all(nodes.map(async n => await n.call<GcCounts>('gc')))
  const r = await fn()
  const g1 = await Promise.all(nodes.map(async n => await n.call<GcCounts>('gc')))
  const ms = performance.now() - t0
  const k1 = await phaseCounters(log, nodes)
  const run = log.perRun.at(-1)
  if (run != null) {
    const d: Record<string, number> = { load: log.load.at(-1)!, ms: Math.round(ms) }
    for (const k of Object.keys(k1)) d[k] = Math.round((k1[k]! - (k0[k] ?? 0)) * 10) / 10
    run[name] = d
  }
  log.gcMajor[name] = (log.gcMajor[name] ?? 0) + g1.reduce((s, g, i) => s + g.major - g0[i]!.major, 0)
  log.gcPauseMs[name] = Math.round((log.gcPauseMs[name] ?? 0) + g1.reduce((s, g, i) => s + g.pauseMs - g0[i]!.pauseMs, 0))
  log.heapUsedMb[name] = Math.round(Math.max(log.heapUsedMb[name] ?? 0, ...g1.map(g => g.heapUsedMb)))
  log.arrayBuffersMb[name] = Math.round(Math.max(log.arrayBuffersMb[name] ?? 0, ...g1.map(g => g.arrayBuffersMb)))
  return r
}

/** Shares of one core over a phase: each node's main thread on a CPU (`run`) and runnable but waiting for one (`wait`), and the machine's idle cores. */
export interface SchedShares { aRun: number, aWait: number, bRun: number, bWait: number, idleCores: number }

/** /proc/stat's idle + iowait and total jiffies (all CPUs). */
function cpuJiffies (): { idle: number, total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  return { idle: f[3]! + f[4]!, total: f.reduce((s, x) => s + x, 0) }
}

/**
 * Runs `fn` and returns its result with the nodes' scheduling shares over it (`nodes` = [a, b]):
 * a node with run + wait near 1 is CPU-bound even when `run` alone looks like spare time.
 */
export async function withSched<T> (nodes: VpnNodeProc[], fn: () => Promise<T>): Promise<{ r: T, sched: SchedShares }> {
  const s0 = await Promise.all(nodes.map(async n => await n.call<{ runNs: number, waitNs: number }>('sched')))
  const j0 = cpuJiffies()
  const t0 = performance.now()
  const r = await fn()
  const ns = (performance.now() - t0) * 1e6
  const j1 = cpuJiffies()
  const s1 = await Promise.all(nodes.map(async n => await n.call<{ runNs: number, waitNs: number }>('sched')))
  const share = (i: number, k: 'runNs' | 'waitNs'): number => Math.round((s1[i]![k] - s0[i]![k]) / ns * 100) / 100
  const idleCores = Math.round((j1.idle - j0.idle) / (j1.total - j0.total) * cpus().length * 100) / 100
  return { r, sched: { aRun: share(0, 'runNs'), aWait: share(0, 'waitNs'), bRun: share(1, 'runNs'), bWait: share(1, 'waitNs'), idleCores } }
}


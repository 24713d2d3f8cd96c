/**
 * Where a daemon's CPU goes by thread (bench census-hub, issue 10): an inspector profile sees only
 * the JavaScript thread's JavaScript, and at idle that was a fraction of the process's CPU. From
 * /proc/<pid>/task/<tid>/stat: the main thread's user and system time, and every other thread by
 * its name (V8's worker pool shows as `node`, libuv's pool as `libuv-worker`, V8's delayed-task
 * thread as `DelayedTaskSche`).
 */
import { readFileSync, readdirSync } from 'node:fs'

const CLK_TCK = 100

export interface ThreadCpu {
  at: number
  /** The main (JavaScript) thread: user and system seconds. */
  mainUserS: number
  mainSysS: number
  /** Every other thread, summed per name, seconds. */
  others: Record<string, number>
}

function statTimes (path: string): [number, number] | undefined {
  try {
    const s = readFileSync(path, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return [Number(f[11]) / CLK_TCK, Number(f[12]) / CLK_TCK]
  } catch {
    return undefined // the thread (or process) ended
  }
}

/** utime + stime of a whole process so far, seconds (NaN once it is gone). */
export function procCpuS (pid: number): number {
  const t = statTimes(`/proc/${pid}/stat`)
  return t == null ? NaN : t[0] + t[1]
}

/** CPU seconds of each thread of `pid` so far. */
export function threadCpu (pid: number): ThreadCpu {
  const out: ThreadCpu = { at: Date.now(), mainUserS: 0, mainSysS: 0, others: {} }
  let tids: string[] = []
  try { tids = readdirSync(`/proc/${pid}/task`) } catch { return out }
  for (const tid of tids) {
    const t = statTimes(`/proc/${pid}/task/${tid}/stat`)
    if (t == null) continue
    if (tid === String(pid)) {
      out.mainUserS = t[0]
      out.mainSysS = t[1]
      continue
    }
    let name = 'thread'
    try { name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() } catch { /* the thread ended: its time still counts */ }
    const key = name === 'node' ? 'v8 worker pool (node)' : name
    out.others[key] = (out.others[key] ?? 0) + t[0] + t[1]
  }
  return out
}

/** % of one core per part between two readings. */
export function threadCpuPct (a: ThreadCpu, b: ThreadCpu): Record<string, number> {
  const s = (b.at - a.at) / 1000
  const pct = (x: number): number => Math.round(100_000 * x / s) / 1000
  const out: Record<string, number> = { main_user: pct(b.mainUserS - a.mainUserS), main_sys: pct(b.mainSysS - a.mainSysS) }
  for (const [k, v] of Object.entries(b.others)) out[k] = pct(v - (a.others[k] ?? 0))
  return out
}

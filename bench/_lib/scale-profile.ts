/**
 * Slices the V8 CPU profiles of the scale bench's profiled daemons (`--profile-nodes`) by phase:
 * per phase, the CPU time each daemon spent and where (by package or source area, and the top
 * functions by self time). It answers "what do 100 daemons do while the bench measures a DHT
 * lookup", which per-process CPU figures cannot.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PhaseRecord } from './scale-phase.js'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }
interface CpuProfile { nodes: ProfileNode[], startTime: number, samples: number[], timeDeltas: number[] }

/** Where a frame's code lives: a package, an area of ours, a Node built-in, or V8's own buckets. */
export function category (url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/')
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!
  }
  const src = /\/dist\/src\/([^/]+)\//.exec(url)
  if (src != null) return `dmsnet/${src[1]}`
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/')
  return url.split('/').slice(-2).join('/')
}

const top = (m: Map<string, number>, k: number): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1]).slice(0, k)

/** Markdown: per profiled daemon and phase, CPU ms and the heaviest categories and functions. */
export async function sliceProfiles (dir: string, phases: PhaseRecord[]): Promise<string> {
  const files = (await readdir(dir).catch(() => [])).filter(f => f.endsWith('.cpuprofile')).sort()
  const out = ['# CPU of the profiled daemons, per phase', '', '(self time in ms: samples times the sampling interval, so that time spent preempted in the run queue does not count; `(idle)` excluded; the profiled daemons run unbundled so that frames name their files)', '']
  for (const f of files) {
    const p = JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile
    const byId = new Map(p.nodes.map(n => [n.id, n]))
    let t = p.startTime
    const times = p.timeDeltas.map(d => (t += d))
    // a sample's weight is its delta, capped near the sampling interval: on a loaded machine a
    // daemon preempted (the link process runs at real-time priority and wakes on every packet)
    // takes its next sample late, and that gap is time in the run queue, not CPU
    const sorted = [...p.timeDeltas].sort((a, b) => a - b)
    const cap = 1.5 * (sorted[sorted.length >> 1] ?? 0)
    out.push(`## ${f}`, '')
    for (const ph of phases) {
      const cats = new Map<string, number>()
      const fns = new Map<string, number>()
      let busy = 0
      for (let i = 0; i < p.samples.length; i++) {
        if (times[i]! < ph.monoUs[0] || times[i]! >= ph.monoUs[1]) continue
        const n = byId.get(p.samples[i]!)
        if (n == null || n.callFrame.functionName === '(idle)') continue
        const dt = Math.min(cap, p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000
        busy += dt
        const c = category(n.callFrame.url, n.callFrame.functionName)
        cats.set(c, (cats.get(c) ?? 0) + dt)
        const fn = `${n.callFrame.functionName || '(anonymous)'} ${c}:${n.callFrame.lineNumber + 1}`
        fns.set(fn, (fns.get(fn) ?? 0) + dt)
      }
      const secs = (ph.monoUs[1] - ph.monoUs[0]) / 1e6
      out.push(`- **${ph.phase}** (${Math.round(secs)} s): ${Math.round(busy)} ms CPU (${(busy / 10 / Math.max(secs, 0.001)).toFixed(2)}% of a core)`,
        `  - by area: ${top(cats, 10).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')}`,
        `  - functions: ${top(fns, 8).map(([k, v]) => `${k} ${Math.round(v)}`).join('; ')}`)
    }
    out.push('')
  }
  const md = out.join('\n')
  if (files.length > 0) await writeFile(join(dir, 'phases.md'), md)
  return md
}

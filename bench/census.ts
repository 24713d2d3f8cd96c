/**
 * Census of what idle connected daemons do per connection (issue 10): N real `dmsnet up`
 * processes bootstrapped from the first three (as `bench idle --connect bootstrap`), left alone,
 * each with bench/_lib/census-preload.mjs loaded (peer-store writes by caller, streams by protocol
 * and direction, yamux frames, gossipsub RPCs, socket writes, timer callbacks by where they were
 * armed). After the warm-up it diffs two snapshots `--duration` s apart and prints, per kind, the
 * rate per daemon per minute and per connection per minute (summed over daemons, divided by the
 * summed connection count), plus each daemon's CPU % and its libp2p bytes by protocol.
 * `--no-census` runs the same without the preload (its stack traces cost CPU): for CPU figures.
 * `--cpu-prof <dir> --prof-nodes 0,5` profiles those daemons (written when they stop, so it covers
 * their start too); `--window-prof <dir>` instead profiles the first of `--prof-nodes` during the
 * measured window only (60 s at most, through its inspector: SIGUSR1, then `Profiler.start/stop`).
 *
 * Usage: npm run bench -- census [--nodes 22] [--warmup 90] [--duration 180] [--no-census]
 *        [--cpu-prof <dir>] [--prof-nodes 0] [--top 40]
 * Progress and the table on stderr; stdout: one JSON line.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BenchDaemon, metricSum, type ProcSample } from './_lib/daemons.js'
import { numArg, progress, writeJsonLine } from './_lib/process.js'
import { median, round } from './_lib/stats.js'
import { windowProfile } from './_lib/census-prof.js'

const log = progress('census')
const NODES = numArg('nodes', 22)
const WARMUP_S = numArg('warmup', 90, true)
const DURATION_S = numArg('duration', 180)
const TOP = numArg('top', 40)
const CENSUS = !process.argv.includes('--no-census')
const strArg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const PROF_DIR = strArg('cpu-prof')
const PROF_NODES = new Set((strArg('prof-nodes') ?? '0').split(',').map(Number))
const WINDOW_PROF = strArg('window-prof')

// the source tree's preload (dist/bench -> bench/_lib), and the node_modules it patches
const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')
const PRELOAD = join(repo, 'bench/_lib/census-preload.mjs')

type Counts = Record<string, Record<string, number>>
interface Snapshot { at: number, counts: Counts }

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function readCensus (dir: string, pid: number): Snapshot {
  return JSON.parse(readFileSync(join(dir, `census-${pid}.json`), 'utf8')) as Snapshot
}

async function main (): Promise<void> {
  const censusDir = mkdtempSync(join(tmpdir(), 'dmsnet-census-'))
  const nodes: BenchDaemon[] = []
  // stopped from outside (another heavy run started): leave no daemon behind
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { void Promise.allSettled(nodes.map(async d => { await d.stop() })).finally(() => process.exit(1)) })
  }
  try {
    for (let i = 0; i < NODES; i++) {
      const nodeArgs = [
        ...(CENSUS ? ['--import', PRELOAD] : []),
        ...(PROF_DIR != null && WINDOW_PROF == null && PROF_NODES.has(i) ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`, `--cpu-prof-name=census-${i}-\${pid}.cpuprofile`] : [])
      ]
      const args = ['--listen', '/ip4/127.0.0.1/tcp/0']
      for (const b of nodes.slice(0, 3)) args.push('--bootstrap', b.listen)
      const d = new BenchDaemon({ name: `c${i}`, args, nodeArgs, env: { DMSNET_CENSUS_DIR: censusDir, DMSNET_CENSUS_ROOT: repo } })
      nodes.push(d)
      await d.start()
    }
    log(`${NODES} daemons up; warm-up ${WARMUP_S} s`)
    await sleep(WARMUP_S * 1000)
    // let every preload write a fresh snapshot, then take both ends of the window
    const snap = async (): Promise<{ census: Array<Snapshot | undefined>, proc: ProcSample[], metrics: string[] }> => {
      if (CENSUS) await sleep(5500)
      return {
        census: nodes.map(d => CENSUS ? readCensus(censusDir, d.pid) : undefined),
        proc: nodes.map(d => d.sample()),
        metrics: await Promise.all(nodes.map(async d => await d.metrics().catch(() => '')))
      }
    }
    const a = await snap()
    log(`measuring ${DURATION_S} s`)
    const profIndex = [...PROF_NODES][0] ?? 0
    const prof = WINDOW_PROF != null
      ? windowProfile(nodes[profIndex]!.pid, Math.min(60, DURATION_S) * 1000, join(WINDOW_PROF, `window-c${profIndex}-${Date.now()}.cpuprofile`)).catch((err: Error) => { log(`window profile failed: ${err.message}`) })
      : undefined
    await sleep(DURATION_S * 1000)
    await prof
    const b = await snap()

    const peers = b.metrics.map(t => metricSum(t, 'dmsnet_peers_connected'))
    const cpu = nodes.map((_, i) => 100 * (b.proc[i]!.cpuS - a.proc[i]!.cpuS) / ((b.proc[i]!.at - a.proc[i]!.at) / 1000))
    const minutes = nodes.map((_, i) => (b.proc[i]!.at - a.proc[i]!.at) / 60_000)
    const sumPeers = peers.reduce((x, y) => x + y, 0)
    log(`peers per node: ${peers.join(' ')}`)
    log(`cpu % per node: ${cpu.map(c => round(c, 2)).join(' ')}`)

    // census: per key, events per node-minute and per connection-minute
    const rows: Array<{ group: string, key: string, perNodeMin: number, perConnMin: number }> = []
    if (CENSUS) {
      const total = new Map<string, number>()
      for (let i = 0; i < NODES; i++) {
        const c0 = a.census[i]!.counts
        const c1 = b.census[i]!.counts
        for (const [g, kv] of Object.entries(c1)) {
          for (const [k, v] of Object.entries(kv)) {
            const d = (v - (c0[g]?.[k] ?? 0)) / minutes[i]!
            if (d !== 0) total.set(`${g}\t${k}`, (total.get(`${g}\t${k}`) ?? 0) + d)
          }
        }
      }
      for (const [gk, v] of total) {
        const [group, key] = gk.split('\t') as [string, string]
        rows.push({ group, key, perNodeMin: round(v / NODES, 3), perConnMin: round(v / sumPeers, 4) })
      }
      rows.sort((x, y) => x.group.localeCompare(y.group) || y.perNodeMin - x.perNodeMin)
      let group = ''
      let shown = 0
      for (const r of rows) {
        if (r.group !== group) { group = r.group; shown = 0; log(`--- ${group} (per node-min, per conn-min)`) }
        if (shown++ < TOP) log(`${String(r.perNodeMin).padStart(10)} ${String(r.perConnMin).padStart(9)}  ${r.key}`)
      }
    }
    // libp2p bytes by protocol (the data-transfer counter group), per connection-minute
    const proto = new Map<string, number>()
    for (let i = 0; i < NODES; i++) {
      for (const line of b.metrics[i]!.split('\n')) {
        const m = /^libp2p_data_transfer_bytes_total\{protocol="([^"]+)"\}\s+(\S+)/.exec(line)
        if (m == null) continue
        const before = new RegExp(`^libp2p_data_transfer_bytes_total\\{protocol="${m[1]!.replace(/[/.+]/g, '\\$&')}"\\}\\s+(\\S+)`, 'm').exec(a.metrics[i]!)?.[1]
        proto.set(m[1]!, (proto.get(m[1]!) ?? 0) + (Number(m[2]) - Number(before ?? 0)) / minutes[i]!)
      }
    }
    const bytesPerConnMin = Object.fromEntries([...proto].filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, round(v / sumPeers, 1)]))
    log(`libp2p bytes per connection-minute: ${JSON.stringify(bytesPerConnMin)}`)
    writeJsonLine({
      nodes: NODES,
      census: CENSUS,
      warmup_s: WARMUP_S,
      duration_s: DURATION_S,
      peers_median: median(peers),
      peers_max: Math.max(...peers),
      cpu_pct_median: round(median(cpu), 2),
      cpu_pct_max: round(Math.max(...cpu), 2),
      cpu_pct: cpu.map(c => round(c, 2)),
      peers,
      bytes_per_conn_min: bytesPerConnMin,
      rows: rows.filter(r => r.perNodeMin >= 0.05)
    })
  } finally {
    await Promise.allSettled(nodes.map(async d => { await d.stop() }))
    rmSync(censusDir, { recursive: true, force: true })
  }
}

main().then(() => { process.exit(0) }, (err: Error) => {
  console.error(`census failed: ${err.stack ?? err.message}`)
  process.exit(1)
})

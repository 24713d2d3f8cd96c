/**
 * Idle cost of a high-connection node (issue 10): the bootstraps of a 100-node network hold ~99
 * connections, twice an ordinary node's, and were the max of the N=100 idle CPU. Without 100
 * daemons: one or two hub daemons (`dmsnet up`, one process each) and `--peers` in-process dmsnet
 * nodes in `--procs` helper processes (bench/_lib/census-peers.ts: the daemon's composition, each
 * with its own key) that bootstrap from every hub and find each other through the DHT. After the
 * warm-up it measures each hub's CPU % of a core over `--windows` windows of `--window` s, with
 * its connected peers, the split of that CPU by thread (the JavaScript thread's user and system time,
 * V8's worker pool, libuv's pool) and, per minute, the counters of its /metrics that moved (DHT RPCs
 * by type, bytes by protocol...).
 *
 * A/B in the same run, under the same load, against the same peers: `--base-cli <dist/src/cli/main.js
 * of another build>` runs a second hub ("base") from that build, and every other helper process
 * runs that build's peers (their CPU per node is reported per build: ordinary nodes A/B), or
 * `--base-env "K=V ..."` gives the second hub other environment (e.g. a `DMSNET_*` setting).
 * `--env "K=V ..."` is environment for every hub (e.g. a trim mark). `--census` adds a third hub
 * ("census", this build unbundled) with bench/_lib/census-preload.mjs loaded, which counts what it
 * does by kind and cause (the counting costs CPU: its CPU figure is not the daemon's).
 * `--window-prof <dir>` adds a hub ("prof", unbundled) profiled over 60 s of the first window
 * through its inspector, and prints where its time went.
 *
 * Usage: npm run bench -- census-hub [--peers 80] [--procs 2] [--warmup 120] [--windows 3]
 *        [--window 180] [--base-cli <cli>] [--base-env "K=V"] [--env "K=V"] [--census]
 *        [--window-prof <dir>]
 * Progress on stderr; stdout: one JSON line (`hub_cpu_pct` per hub: min/median/max over windows).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BenchDaemon, metricSum, type ProcSample } from './_lib/daemons.js'
import { envArg, numArg, progress, serverAnnouncement, stopServer, strArg, writeJsonLine } from './_lib/process.js'
import { median, round } from './_lib/stats.js'
import { windowProfile } from './_lib/census-prof.js'
import { procCpuS, threadCpu, threadCpuPct, type ThreadCpu } from './_lib/census-threads.js'
import { sliceProfiles } from './_lib/scale-profile.js'
import type { PhaseRecord } from './_lib/scale-phase.js'

const log = progress('census-hub')
const PEERS = numArg('peers', 80)
const PROCS = numArg('procs', 2)
const WARMUP_S = numArg('warmup', 120, true)
const WINDOWS = numArg('windows', 3)
const WINDOW_S = numArg('window', 180)
const BASE_CLI = strArg('base-cli')
const BASE_ENV = envArg('base-env')
const ENV = envArg('env')
const AB = BASE_CLI != null || Object.keys(BASE_ENV).length > 0
const CENSUS = process.argv.includes('--census')
const WINDOW_PROF = strArg('window-prof')
/** the base build's peers script, next to its CLI (dist/src/cli/main.js -> dist/bench/_lib) */
const BASE_PEERS = BASE_CLI != null ? resolve(dirname(BASE_CLI), '../../bench/_lib/census-peers.js') : undefined

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')
const PRELOAD = join(repo, 'bench/_lib/census-preload.mjs')
const PEERS_SCRIPT = join(here, '_lib/census-peers.js')
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }


interface Snap { proc: ProcSample, threads: ThreadCpu, metrics: string, census?: Record<string, Record<string, number>> }

/** Counters (`*_total`) that moved between two /metrics pages, per minute. */
function counterRates (a: string, b: string, minutes: number): Record<string, number> {
  const parse = (t: string): Map<string, number> => {
    const m = new Map<string, number>()
    for (const line of t.split('\n')) {
      const x = /^([a-zA-Z_:][a-zA-Z0-9_:]*_total(?:\{[^}]*\})?)\s+(\S+)/.exec(line)
      if (x != null) m.set(x[1]!, Number(x[2]))
    }
    return m
  }
  const ma = parse(a)
  const out: Record<string, number> = {}
  for (const [k, v] of parse(b)) {
    const d = (v - (ma.get(k) ?? 0)) / minutes
    if (d > 0) out[k] = round(d, 2)
  }
  return out
}

function censusRates (a: Snap, b: Snap, minutes: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [g, kv] of Object.entries(b.census ?? {})) {
    for (const [k, v] of Object.entries(kv)) {
      const d = (v - (a.census?.[g]?.[k] ?? 0)) / minutes
      if (d >= 0.05) out[`${g} ${k}`] = round(d, 2)
    }
  }
  return out
}

async function main (): Promise<void> {
  const censusDir = mkdtempSync(join(tmpdir(), 'dmsnet-census-hub-'))
  const hubs: BenchDaemon[] = []
  const helpers: ChildProcess[] = []
  const helperInfo: Array<{ build: 'new' | 'base', count: number }> = []
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(helpers.map(async c => { await stopServer(c, 30_000) }))
    await Promise.allSettled(hubs.map(async d => { await d.stop() }))
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { void stopAll().finally(() => process.exit(1)) })
  }
  try {
    const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
    hubs.push(new BenchDaemon({ name: 'hub', args: listen, env: ENV }))
    if (AB) hubs.push(new BenchDaemon({ name: 'base', args: listen, env: { ...ENV, ...BASE_ENV }, ...(BASE_CLI != null ? { cli: BASE_CLI } : {}) }))
    // counting costs CPU: a hub of its own, so that the others' CPU figures stay the daemon's
    if (CENSUS) hubs.push(new BenchDaemon({ name: 'census', args: listen, nodeArgs: ['--import', PRELOAD], env: { ...ENV, DMSNET_BUNDLE: '0', DMSNET_CENSUS_DIR: censusDir, DMSNET_CENSUS_ROOT: repo } }))
    // and so does the profiler: a hub of its own too (unbundled, so that frames name their files)
    if (WINDOW_PROF != null) hubs.push(new BenchDaemon({ name: 'prof', args: listen, env: { ...ENV, DMSNET_BUNDLE: '0' } }))
    for (const h of hubs) await h.start()
    const bootstrap = hubs.map(h => h.listen)
    log(`${hubs.length} hub(s) up; starting ${PEERS} in-process peers in ${PROCS} processes`)
    const per = Math.ceil(PEERS / PROCS)
    for (let p = 0; p < PROCS; p++) {
      const count = Math.min(per, PEERS - p * per)
      if (count <= 0) break
      // with --base-cli, every other helper runs the base build's peers: ordinary nodes A/B too
      const build = BASE_PEERS != null && p % 2 === 1 ? 'base' : 'new'
      const child = spawn(process.execPath, [build === 'base' ? BASE_PEERS! : PEERS_SCRIPT, JSON.stringify({ count, bootstrap, startGapMs: 300, name: `g${p}` })], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, DMSNET_LOG_LEVEL: 'warn' } })
      helpers.push(child)
      helperInfo.push({ build, count })
    }
    await Promise.all(helpers.map(async c => await serverAnnouncement<{ ready: number }>(c)))
    log(`peers up; warm-up ${WARMUP_S} s`)
    await sleep(WARMUP_S * 1000)

    const snap = async (h: BenchDaemon): Promise<Snap> => ({
      proc: h.sample(),
      threads: threadCpu(h.pid),
      metrics: await h.metrics().catch(() => ''),
      ...(h.name === 'census' ? { census: (JSON.parse(readFileSync(join(censusDir, `census-${h.pid}.json`), 'utf8')) as { counts: Record<string, Record<string, number>> }).counts } : {})
    })
    const profiled = hubs.find(h => h.name === 'prof')
    const peerCpu: Array<{ build: string, perNode: number }> = []
    const windows: Array<Array<{ cpu: number, threads: Record<string, number>, peers: number, load: number[], counters: Record<string, number>, census: Record<string, number> }>> = hubs.map(() => [])
    for (let w = 0; w < WINDOWS; w++) {
      if (CENSUS) await sleep(5500) // a fresh census snapshot at both ends
      const a = await Promise.all(hubs.map(snap))
      const helpersA = helpers.map(c => ({ at: Date.now(), cpuS: procCpuS(c.pid!) }))
      const load0 = loadavg()[0]!
      const prof = profiled != null && WINDOW_PROF != null && w === 0
        ? windowProfile(profiled.pid, Math.min(60, WINDOW_S) * 1000, join(WINDOW_PROF, `hub-${Date.now()}.cpuprofile`)).catch((err: Error) => { log(`window profile failed: ${err.message}`) })
        : undefined
      await sleep(WINDOW_S * 1000)
      await prof
      if (CENSUS) await sleep(5500)
      const b = await Promise.all(hubs.map(snap))
      helpers.forEach((c, i) => {
        const pct = 100 * (procCpuS(c.pid!) - helpersA[i]!.cpuS) / ((Date.now() - helpersA[i]!.at) / 1000)
        peerCpu.push({ build: helperInfo[i]!.build, perNode: pct / helperInfo[i]!.count })
        log(`window ${w + 1}/${WINDOWS} peers g${i} (${helperInfo[i]!.build}, ${helperInfo[i]!.count} nodes): ${round(pct, 2)}% of a core, ${round(pct / helperInfo[i]!.count, 3)}% per node`)
      })
      hubs.forEach((h, i) => {
        const minutes = (b[i]!.proc.at - a[i]!.proc.at) / 60_000
        const cpu = 100 * (b[i]!.proc.cpuS - a[i]!.proc.cpuS) / (minutes * 60)
        const peers = metricSum(b[i]!.metrics, 'dmsnet_peers_connected')
        const threads = threadCpuPct(a[i]!.threads, b[i]!.threads)
        windows[i]!.push({ cpu, threads, peers, load: [round(load0, 1), round(loadavg()[0]!, 1)], counters: counterRates(a[i]!.metrics, b[i]!.metrics, minutes), census: CENSUS ? censusRates(a[i]!, b[i]!, minutes) : {} })
        log(`window ${w + 1}/${WINDOWS} ${h.name}: ${round(cpu, 3)}% of a core (by thread ${JSON.stringify(threads)}), ${peers} peers, load ${round(load0, 1)} -> ${round(loadavg()[0]!, 1)}, RSS ${round(b[i]!.proc.rssMb, 1)} MB`)
      })
    }
    if (WINDOW_PROF != null) {
      // one phase: the whole profile (its own clock), so that the summary's % of a core is right
      const file = readdirSync(WINDOW_PROF).find(f => f.startsWith('hub-') && f.endsWith('.cpuprofile'))
      if (file != null) {
        const p = JSON.parse(readFileSync(join(WINDOW_PROF, file), 'utf8')) as { startTime: number, endTime: number }
        const whole = { phase: 'idle window', ms: (p.endTime - p.startTime) / 1000, monoUs: [p.startTime, p.endTime] } as unknown as PhaseRecord
        log(await sliceProfiles(WINDOW_PROF, [whole]))
      }
    }
    const result: Record<string, unknown> = { peers_inproc: PEERS, warmup_s: WARMUP_S, window_s: WINDOW_S, windows: WINDOWS, census: CENSUS }
    hubs.forEach((h, i) => {
      const ws = windows[i]!
      const cpus = ws.map(x => x.cpu)
      const last = ws[ws.length - 1]!
      const top = (o: Record<string, number>, k: number): Record<string, number> => Object.fromEntries(Object.entries(o).sort((x, y) => y[1] - x[1]).slice(0, k))
      log(`${h.name}: counters per minute (last window): ${JSON.stringify(top(last.counters, 40))}`)
      if (h.name === 'census') log(`${h.name}: census per minute (last window): ${JSON.stringify(top(last.census, 60))}`)
      result[h.name] = {
        cpu_pct: cpus.map(c => round(c, 3)),
        cpu_pct_min: round(Math.min(...cpus), 3),
        cpu_pct_median: round(median(cpus), 3),
        cpu_pct_max: round(Math.max(...cpus), 3),
        // % of a core per thread (bench/_lib/census-threads.ts), each window
        threads_pct: ws.map(x => x.threads),
        peers: ws.map(x => x.peers),
        load: ws.map(x => x.load),
        counters_per_min: top(last.counters, 40),
        ...(h.name === 'census' ? { census_per_min: top(last.census, 80) } : {})
      }
    })
    for (const build of ['new', 'base']) {
      const v = peerCpu.filter(x => x.build === build).map(x => x.perNode)
      if (v.length > 0) result[`peer_cpu_pct_per_node_${build}`] = { min: round(Math.min(...v), 3), median: round(median(v), 3), max: round(Math.max(...v), 3) }
    }
    writeJsonLine(result)
  } finally {
    await stopAll()
    rmSync(censusDir, { recursive: true, force: true })
  }
}

main().then(() => { process.exit(0) }, (err: Error) => {
  console.error(`census-hub failed: ${err.stack ?? err.message}`)
  process.exit(1)
})

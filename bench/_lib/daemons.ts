/**
 * Real `dmsnet up` daemons for benchmarks, one process each, optionally inside a network namespace:
 * start (waiting for "dmsnet: ready"), run CLI commands against them through their control
 * socket, scrape their /metrics (from inside their namespace when they have one), and read their
 * CPU time and RSS from /proc. Everything started here is stopped by `stop()`.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/**
 * dist/src/cli/main.js next to this compiled file (dist/bench/_lib -> dist/src);
 * `DMSNET_BENCH_CLI` runs another build instead (e.g. main's, for a before/after in one run).
 */
const CLI = process.env.DMSNET_BENCH_CLI ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js')
/** Kernel clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on). */
const CLK_TCK = 100

export interface DaemonOptions {
  name: string
  /** `dmsnet up` flags after `-d <dir>` (listen, bootstrap, profile...). `--metrics-port 0` is added. */
  args: string[]
  /** Run inside this network namespace. */
  netns?: string
  env?: NodeJS.ProcessEnv
  /** Extra `node` flags (e.g. `--cpu-prof`). */
  nodeArgs?: string[]
  /** Another CLI entry for this daemon (an A/B of two builds side by side); CLI commands use it too. */
  cli?: string
  /**
   * Another node binary for the daemon (not its CLI commands): a private copy gives the daemon file
   * pages no other process maps, as on a host of its own (bench idle `--private-node`).
   */
  execPath?: string
}

export interface ProcSample {
  /** ms since the epoch */
  at: number
  /** utime + stime, seconds */
  cpuS: number
  rssMb: number
  /**
   * Anonymous (private) part of RSS: V8 heap, malloc, stacks. The rest of RSS is file pages,
   * mostly the node binary's code and data, shared by every node process and evictable.
   */
  anonMb: number
  /** File-backed part of RSS (RssFile + RssShmem): the node binary's and libraries' pages. */
  fileMb: number
  /**
   * Proportional set size: RSS with each shared page divided by the number of processes mapping
   * it (the node binary's file pages, shared by every daemon on the host). What one more daemon
   * on a host costs is closer to this than to RSS. NaN where smaps_rollup is unreadable.
   */
  pssMb: number
}

/** Fields of /proc/PID/smaps_rollup, in MB: Rss, Pss, Pss_Anon, Pss_File, Anonymous... */
export function smapsRollup (pid: number): Record<string, number> {
  const out: Record<string, number> = {}
  try {
    for (const m of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').matchAll(/^(\w+):\s+(\d+) kB/gm)) out[m[1]!] = Number(m[2]) / 1024
  } catch { // the process is gone: no fields
  }
  return out
}

/** A persistent fetcher inside a namespace: one `node` reading URLs on stdin, answering JSON lines. */
const FETCHER = `
const rl = require('node:readline').createInterface({ input: process.stdin })
rl.on('line', async (url) => {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(10000) })
    process.stdout.write(JSON.stringify({ text: await r.text() }) + '\\n')
  } catch (e) { process.stdout.write(JSON.stringify({ error: String(e) }) + '\\n') }
})`

class NsFetcher {
  private readonly child: ChildProcessWithoutNullStreams
  private readonly waiting: Array<(line: string) => void> = []
  private queue: Promise<unknown> = Promise.resolve()
  constructor (netns: string) {
    this.child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', FETCHER], { stdio: ['pipe', 'pipe', 'pipe'] })
    createInterface({ input: this.child.stdout }).on('line', (l) => { this.waiting.shift()?.(l) })
  }

  async fetch (url: string): Promise<string> {
    const run = this.queue.then(async () => await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`fetch ${url} in netns timed out`)) }, 15_000)
      this.waiting.push((line) => {
        clearTimeout(timer)
        const r = JSON.parse(line) as { text?: string, error?: string }
        if (r.text != null) resolve(r.text)
        else reject(new Error(r.error))
      })
      this.child.stdin.write(url + '\n')
    }))
    this.queue = run.catch(() => {})
    return await run
  }

  stop (): void {
    this.child.stdin.end()
    this.child.kill()
  }
}

export class BenchDaemon {
  readonly name: string
  readonly dir: string
  readonly netns?: string
  peerId = ''
  listen = ''
  metricsUrl = ''
  private child?: ChildProcessWithoutNullStreams
  private exited: Promise<number | null> = Promise.resolve(null)
  private stderrTail = ''
  private fetcher?: NsFetcher

  constructor (private readonly options: DaemonOptions) {
    this.name = options.name
    this.netns = options.netns
    this.dir = mkdtempSync(join(tmpdir(), `dmsnet-bench-${options.name}-`))
  }

  get pid (): number {
    const pid = this.child?.pid
    if (pid == null) throw new Error(`${this.name} is not running`)
    return pid
  }

  /** Spawns `dmsnet up` and waits for its ready line (60 s at most). */
  async start (): Promise<void> {
    const nodeArgv = [...(this.options.nodeArgs ?? []), this.options.cli ?? CLI, '-d', this.dir, 'up', '--metrics-port', '0', ...this.options.args]
    // `ip netns exec` execs the program, so the child's pid is the daemon's own
    const node = this.options.execPath ?? process.execPath
    const [cmd, argv] = this.netns != null ? ['ip', ['netns', 'exec', this.netns, node, ...nodeArgv]] : [node, nodeArgv]
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DMSNET_LOG_LEVEL: 'warn', ...this.options.env } })
    this.child = child
    this.exited = new Promise(resolve => child.once('exit', (code) => { resolve(code) }))
    child.stderr.on('data', (d: Buffer) => { this.stderrTail = (this.stderrTail + d.toString()).slice(-8000) })
    let out = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${this.name} not ready in 60 s: ${this.stderrTail}`)) }, 60_000)
      void this.exited.then(code => { clearTimeout(timer); reject(new Error(`${this.name} exited with ${code}: ${this.stderrTail}`)) })
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('dmsnet: ready')) { clearTimeout(timer); resolve() }
      })
    })
    this.peerId = /^peer id:\s+(\S+)/m.exec(out)?.[1] ?? ''
    this.listen = /^listen:\s+(\S+)/m.exec(out)?.[1] ?? ''
    this.metricsUrl = /^metrics:\s+(\S+)/m.exec(out)?.[1] ?? ''
    if (this.peerId === '' || this.listen === '' || this.metricsUrl === '') throw new Error(`${this.name}: unexpected ready output:\n${out}`)
    if (this.netns != null) this.fetcher = new NsFetcher(this.netns)
  }

  /** The daemon's Prometheus page. */
  async metrics (): Promise<string> {
    if (this.fetcher != null) return await this.fetcher.fetch(this.metricsUrl)
    const r = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(10_000) })
    return await r.text()
  }

  /** Runs `dmsnet -d <dir> ...args` (a control-socket client, so no namespace needed); stdout. */
  async cli (args: string[], timeoutMs = 60_000): Promise<string> {
    return await new Promise((resolve, reject) => {
      execFile(process.execPath, [this.options.cli ?? CLI, '-d', this.dir, ...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err != null) reject(new Error(`${this.name}: dmsnet ${args.join(' ')} failed: ${stderr.trim() || err.message}`))
        else resolve(stdout)
      })
    })
  }

  /** CPU seconds (user + system) and RSS of the daemon process now. */
  sample (): ProcSample {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8')
    // fields after the command name (which may contain spaces) start at ") "
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const cpuS = (Number(f[11]) + Number(f[12])) / CLK_TCK
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8')
    const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN)
    return { at: Date.now(), cpuS, rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, fileMb: (kb('RssFile') + kb('RssShmem')) / 1024, pssMb: smapsRollup(this.pid).Pss ?? NaN }
  }

  /** SIGTERM (graceful: a CPU profile is written), SIGKILL after 20 s; removes the data dir. */
  async stop (): Promise<void> {
    this.fetcher?.stop()
    const c = this.child
    if (c != null && c.exitCode == null && c.signalCode == null) {
      c.kill('SIGTERM')
      const t = setTimeout(() => { c.kill('SIGKILL') }, 20_000)
      await this.exited
      clearTimeout(t)
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Sum of the samples of metric `name` whose labels match `labelFilter` (all when absent). */
export function metricSum (text: string, name: string, labelFilter?: (labels: string) => boolean): number {
  let n = 0
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (m == null || m[1] !== name) continue
    if (labelFilter != null && !labelFilter(m[2] ?? '')) continue
    const v = Number(m[3])
    if (Number.isFinite(v)) n += v
  }
  return n
}

/** Least-squares slope of y over x (units of y per unit of x); 0 with fewer than two points. */
export function slope (xs: number[], ys: number[]): number {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

/**
 * Standard error of the least-squares slope of y over x (same units as `slope`); Infinity with
 * fewer than three points. A slope within about two of these of zero is not a measured growth.
 */
export function slopeStdErr (xs: number[], ys: number[]): number {
  const n = xs.length
  if (n < 3) return Infinity
  const b = slope(xs, ys)
  const mx = xs.reduce((a, v) => a + v, 0) / n
  const my = ys.reduce((a, v) => a + v, 0) / n
  let ssr = 0
  let sxx = 0
  for (let i = 0; i < n; i++) {
    ssr += (ys[i]! - my - b * (xs[i]! - mx)) ** 2
    sxx += (xs[i]! - mx) ** 2
  }
  return sxx === 0 ? Infinity : Math.sqrt(ssr / (n - 2) / sxx)
}

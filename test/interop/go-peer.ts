/**
 * The go-libp2p test peer (test/interop/go) from the Node side: builds it once per source hash
 * (cached under .cache/interop/, git-ignored), starts it as a child process and speaks its line
 * protocol. A missing Go toolchain is a test failure with the reason, never a skip.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The repository root (this file runs from dist/test/interop/). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const SRC = join(REPO, 'test/interop/go')
const CACHE = join(REPO, '.cache/interop')

/** Base of the go peer's errors: `name` is the class's static name, as in src/errors.ts. */
export class GoPeerError extends Error {
  static override name = 'GoPeerError'
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = (this.constructor as { name: string }).name
  }
}

export class GoToolchainMissingError extends GoPeerError {
  static override name = 'GoToolchainMissingError'
}

export class GoPeerBuildError extends GoPeerError {
  static override name = 'GoPeerBuildError'
}

export class GoPeerCommandError extends GoPeerError {
  static override name = 'GoPeerCommandError'
}

export class GoPeerTimeoutError extends GoPeerError {
  static override name = 'GoPeerTimeoutError'
}

export class GoPeerExitedError extends GoPeerError {
  static override name = 'GoPeerExitedError'
}

function sourceHash (): string {
  const h = createHash('sha256')
  const files = readdirSync(SRC).filter(f => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum').sort()
  for (const f of files) {
    h.update(f).update('\0').update(readFileSync(join(SRC, f))).update('\0')
  }
  return h.digest('hex').slice(0, 16)
}

let built: string | undefined

/** `go version`, or a GoToolchainMissingError saying what to install. */
export function goVersion (): string {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' })
  if (r.error != null || r.status !== 0) {
    throw new GoToolchainMissingError(`the interop suite needs the Go toolchain (go >= 1.26 on PATH): ${r.error?.message ?? r.stderr}`)
  }
  return r.stdout.trim()
}

/** Path of the built test peer; builds it when its sources changed (logs the build time). */
export function ensureGoPeer (log: (line: string) => void = console.log): string {
  if (built != null) return built
  const version = `${goVersion()}; npm: ${process.env.npm_config_user_agent ?? 'not run through npm'}`
  const bin = join(CACHE, `interop-peer-${sourceHash()}`)
  if (existsSync(bin)) {
    log(`# interop: ${version}; go peer cached (${bin})`)
    built = bin
    return bin
  }
  mkdirSync(CACHE, { recursive: true })
  const tmp = `${bin}.tmp-${process.pid}`
  const started = Date.now()
  const r = spawnSync('go', ['build', '-trimpath', '-o', tmp, '.'], { cwd: SRC, encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=readonly -buildvcs=false' } })
  if (r.error != null || r.status !== 0) {
    throw new GoPeerBuildError(`building the go test peer failed (${version}): ${r.error?.message ?? ''}${r.stderr}`)
  }
  renameSync(tmp, bin)
  log(`# interop: ${version}; go peer built in ${Date.now() - started} ms (${bin})`)
  built = bin
  return bin
}

export interface GoPeerOptions {
  psk?: string
  dhtPrefix?: string
  pubsub?: boolean
  pubsubSign?: boolean
}

export interface GoEvent { name: string, args: string[] }

/** One running Go peer. `cmd` sends a command and resolves with the words after `ok`. */
export class GoPeer {
  id = ''
  addrs: string[] = []
  readonly events: GoEvent[] = []
  private readonly proc: ChildProcessWithoutNullStreams
  private readonly pending = new Map<string, { resolve: (v: string[]) => void, reject: (e: Error) => void }>()
  private nextId = 1
  private readonly eventWaiters = new Set<() => void>()
  private stderr = ''
  private exited?: Error
  private readonly ready: Promise<void>

  constructor (bin: string, opts: GoPeerOptions = {}) {
    const args = ['-listen', '/ip4/127.0.0.1/tcp/0']
    if (opts.psk != null) args.push('-psk', opts.psk)
    if (opts.dhtPrefix != null) args.push('-dht-prefix', opts.dhtPrefix)
    if (opts.pubsub === true) args.push('-pubsub')
    if (opts.pubsubSign === false) args.push('-pubsub-sign=false')
    this.proc = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    this.proc.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-8192) })
    let onReady: () => void = () => {}
    let onFail: (e: Error) => void = () => {}
    this.ready = new Promise<void>((resolve, reject) => { onReady = resolve; onFail = reject })
    const fail = (err: Error): void => {
      this.exited = err
      onFail(err)
      for (const p of this.pending.values()) p.reject(err)
      this.pending.clear()
      for (const w of this.eventWaiters) w()
    }
    this.proc.on('error', fail)
    this.proc.on('exit', (code, signal) => { fail(new GoPeerExitedError(`go peer exited (${code ?? signal}): ${this.stderr.slice(-2000)}`)) })
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const words = line.split(' ')
      if (words[0] === 'ready') {
        this.id = words[1] ?? ''
        this.addrs = words.slice(2).map(a => `${a}/p2p/${this.id}`)
        onReady()
      } else if (words[0] === '!') {
        this.events.push({ name: words[1] ?? '', args: words.slice(2) })
        for (const w of this.eventWaiters) w()
      } else {
        const p = this.pending.get(words[0] ?? '')
        if (p == null) return
        this.pending.delete(words[0] ?? '')
        if (words[1] === 'ok') p.resolve(words.slice(2))
        else p.reject(new GoPeerCommandError(words.slice(2).join(' ')))
      }
    })
  }

  static async start (opts: GoPeerOptions = {}, log?: (line: string) => void): Promise<GoPeer> {
    const peer = new GoPeer(ensureGoPeer(log), opts)
    const timer = setTimeout(() => { peer.proc.kill('SIGKILL') }, 30_000)
    try {
      await peer.ready
    } finally {
      clearTimeout(timer)
    }
    return peer
  }

  get addr (): string {
    return this.addrs[0] ?? ''
  }

  /** Runs one command; rejects with GoPeerCommandError on `err`, or after `timeoutMs`. */
  async cmd (name: string, args: Array<string | number> = [], timeoutMs = 120_000): Promise<string[]> {
    if (this.exited != null) throw this.exited
    const id = String(this.nextId++)
    const result = new Promise<string[]>((resolve, reject) => { this.pending.set(id, { resolve, reject }) })
    this.proc.stdin.write(`${id} ${name} ${args.join(' ')}\n`)
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { this.pending.delete(id); reject(new GoPeerTimeoutError(`go peer: ${name} gave no answer within ${timeoutMs} ms`)) }, timeoutMs)
    })
    try {
      return await Promise.race([result, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Waits until `count` events pass `pred` (bounded); returns them. */
  async waitEvents (pred: (e: GoEvent) => boolean, count: number, timeoutMs = 20_000): Promise<GoEvent[]> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const got = this.events.filter(pred)
      if (got.length >= count) return got
      if (this.exited != null) throw this.exited
      const left = end - Date.now()
      if (left <= 0) throw new GoPeerTimeoutError(`go peer: ${got.length} of ${count} events within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        // not a sleep: wakes this wait for events at the latest after 1 s to re-check the deadline
        const t = setTimeout(done, Math.min(left, 1000))
        function done (): void { clearTimeout(t); waiters.delete(done); resolve() }
        const waiters = this.eventWaiters
        waiters.add(done)
      })
    }
  }

  /** Stops the process (quit, then SIGKILL after 5 s). */
  async stop (): Promise<void> {
    if (this.exited != null) return
    const gone = new Promise<void>(resolve => { this.proc.once('exit', () => { resolve() }) })
    this.proc.stdin.end()
    const t = setTimeout(() => { this.proc.kill('SIGKILL') }, 5000)
    await gone
    clearTimeout(t)
  }
}

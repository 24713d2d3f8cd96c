/**
 * Process plumbing shared by the benchmarks: numeric `--flag` arguments, stderr progress, the
 * one-JSON-line stdout contract, and the server half of a two-process benchmark (the same file
 * re-run with `--server`, announcing itself with one JSON line and exiting when its stdin closes).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/** `--name <number>`; falls back to `dflt` when absent, not a number, negative, or zero unless `allowZero`. */
export function numArg (name: string, dflt: number, allowZero = false): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && (allowZero ? v >= 0 : v > 0) ? v : dflt
}

/** The word after `--<name>` on the command line, if given. */
export function strArg (name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

/** `--<name> "K=V K2=V2"` as an environment (e.g. a switch for one side of a before/after). */
export function envArg (name: string): Record<string, string> {
  return Object.fromEntries((strArg(name) ?? '').split(/\s+/).filter(kv => kv.includes('=')).map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
}

/** A progress logger writing `[tag] msg` lines to stderr (stdout is kept for the result). */
export function progress (tag: string): (msg: string) => void {
  return (msg) => { process.stderr.write(`[${tag}] ${msg}\n`) }
}

/** Writes one JSON object as one stdout line (a server's announcement, a benchmark's result). */
export function writeJsonLine (value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n')
}

/** Re-runs `file` (the calling benchmark) with `--server` and `args` on the same Node and flags. */
export function spawnServer (file: string, args: string[] = []): ChildProcess {
  return spawn(process.execPath, [...process.execArgv, file, '--server', ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
}

/** The JSON line a spawned server prints once it listens, parsed. Rejects if it exits first. */
export async function serverAnnouncement<T> (child: ChildProcess): Promise<T> {
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', (code) => { reject(new Error(`server exited with ${code}`)) })
  })
  return JSON.parse(first) as T
}

/** Closes the server's stdin (its signal to stop) and waits for it to exit; SIGKILL after `killAfterMs` if given. */
export async function stopServer (child: ChildProcess, killAfterMs?: number): Promise<void> {
  if (child.exitCode == null) child.stdin?.end()
  await new Promise(resolve => {
    if (child.exitCode != null) { resolve(null); return }
    const t = killAfterMs != null ? setTimeout(() => { child.kill('SIGKILL') }, killAfterMs) : undefined
    child.once('exit', () => { clearTimeout(t); resolve(null) })
  })
}

/** Resolves when stdin closes: a benchmark server's cue to shut down. */
export async function stdinClosed (): Promise<void> {
  process.stdin.resume()
  await new Promise<void>(resolve => process.stdin.on('close', resolve).on('end', resolve))
}

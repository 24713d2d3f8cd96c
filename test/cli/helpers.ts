/**
 * Runs the real CLI as a subprocess, from source under tsx during development and from dist/
 * when the suite runs compiled (CI): the entry is found relative to this file.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const compiled = import.meta.url.endsWith('.js')
/** Repository root (test/cli -> .., or dist/test/cli -> ../..). */
export const repoRoot = resolve(here, compiled ? '../../..' : '../..')

/** `node` arguments that start a TypeScript-or-compiled entry, e.g. `src/cli/main.ts`. */
export function entryArgs (srcPath: string): string[] {
  if (compiled) {
    const js = join(repoRoot, 'dist', srcPath.replace(/\.ts$/, '.js'))
    if (!existsSync(js)) throw new Error(`${js} missing: run npm run build`)
    return [js]
  }
  return ['--import', 'tsx', join(repoRoot, srcPath)]
}

export function cliEntry (): string[] {
  return entryArgs('src/cli/main.ts')
}

export interface CliResult { code: number | null, stdout: string, stderr: string }

/** Runs `dmsnet ...args` to completion (bounded by `timeoutMs`). */
export async function runCli (args: string[], options: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [...cliEntry(), ...args], {
    env: { ...process.env, DMSNET_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, options.timeoutMs ?? 60_000)
  const code = await new Promise<number | null>(resolve => child.on('close', c => { resolve(c) }))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

export interface Daemon {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** The exit code once it has exited. */
  exited: Promise<number | null>
  /** SIGINT, then SIGKILL after `graceMs`. */
  stop: (graceMs?: number) => Promise<number | null>
}

/** Starts `dmsnet up ...args` (inside network namespace `netns` if given) and waits for its "dmsnet: ready" line. */
export async function startDaemon (args: string[], options: { env?: NodeJS.ProcessEnv, timeoutMs?: number, netns?: string } = {}): Promise<Daemon> {
  const argv = [process.execPath, ...cliEntry(), 'up', ...args]
  const [cmd, ...rest] = options.netns != null ? ['ip', 'netns', 'exec', options.netns, ...argv] : argv
  const child = spawn(cmd!, rest, {
    env: { ...process.env, DMSNET_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<number | null>(resolve => child.on('close', c => { resolve(c) }))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`daemon not ready in time; stdout:\n${out}\nstderr:\n${err}`)) }, options.timeoutMs ?? 60_000)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('dmsnet: ready')) { clearTimeout(timer); resolve() }
    })
    void exited.then(code => { clearTimeout(timer); reject(new Error(`daemon exited with ${code} before ready; stderr:\n${err}`)) })
  })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop (graceMs = 15_000) {
      if (child.exitCode == null && child.signalCode == null) {
        child.kill('SIGINT')
        const t = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
        const code = await exited
        clearTimeout(t)
        return code
      }
      return await exited
    }
  }
}

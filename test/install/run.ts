/**
 * Child processes for the install and docs tests: run a command to its end (killed after a bound)
 * and collect its output; `ok` throws with the tail of stderr when it fails.
 */
import { spawn } from 'node:child_process'

export interface Run { code: number | null, stdout: string, stderr: string }
export interface RunOptions { cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number }

export function run (cmd: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, opts.timeoutMs ?? 120_000)
  return new Promise(resolve => child.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) }))
}

export async function ok (cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-3000)}${r.stdout.slice(-1000)}`)
  return r.stdout
}

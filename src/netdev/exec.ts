/**
 * Runs host commands (`ip`, `nft`) with execFile: no shell, arguments as an array, optional stdin,
 * an AbortSignal, and a named error carrying stderr when the command fails.
 */
import { execFile } from 'node:child_process'
import type { AbortOptions } from '@libp2p/interface'
import { AbortedError } from '../errors.js'
import { CommandFailedError } from './errors.js'

export interface RunOptions extends AbortOptions {
  /** Written to the command's stdin (e.g. an nft script for `nft -f -`). */
  input?: string
}

export async function run (command: string, args: string[], options: RunOptions = {}): Promise<string> {
  options.signal?.throwIfAborted()
  return await new Promise<string>((resolve, reject) => {
    const child = execFile(command, args, { signal: options.signal, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err == null) { resolve(stdout); return }
      if ((err as { name?: string }).name === 'AbortError') { reject(new AbortedError(`${command} aborted`, { cause: err })); return }
      const code = (err as { code?: unknown }).code
      reject(new CommandFailedError(command, args, typeof code === 'number' ? code : null, stderr !== '' ? stderr : err.message, { cause: err }))
    })
    if (options.input != null) {
      // a command that exits before reading (e.g. its namespace is gone) closes the pipe: its exit status reports that
      child.stdin?.on('error', () => {})
      child.stdin?.end(options.input)
    }
  })
}

/** `ip [-n NS] ARGS`. */
export async function ip (args: string[], netns?: string, options: RunOptions = {}): Promise<string> {
  return await run('ip', netns == null ? args : ['-n', netns, ...args], options)
}

/** `ip -json [-n NS] ARGS`, parsed. Empty output (some `ip` versions print nothing) is `[]`. */
export async function ipJson<T> (args: string[], netns?: string, options: RunOptions = {}): Promise<T[]> {
  const out = await ip(['-json', ...args], netns, options)
  const trimmed = out.trim()
  if (trimmed === '') return []
  return JSON.parse(trimmed) as T[]
}

/** Runs a command inside a namespace (`ip netns exec NS cmd ...`), or directly when ns is absent. */
export async function runIn (netns: string | undefined, command: string, args: string[], options: RunOptions = {}): Promise<string> {
  if (netns == null) return await run(command, args, options)
  return await run('ip', ['netns', 'exec', netns, command, ...args], options)
}

/**
 * Network namespaces: create, delete, list, and run a command inside one (`ip netns ...`).
 * Create and delete are idempotent, so a retry or a cleanup after a half-done setup is safe.
 */
import type { AbortOptions } from '@libp2p/interface'
import { CommandFailedError } from './errors.js'
import { ip, run, type RunOptions } from './exec.js'
import { checkNamespaceName } from './validate.js'

/** Options of every netdev call that can act inside a namespace. */
export interface NetdevOptions extends AbortOptions {
  /** Act inside this network namespace (`ip -n NS`); the caller's own namespace when absent. */
  netns?: string
}

export async function listNetns (options?: AbortOptions): Promise<string[]> {
  const out = await ip(['-json', 'netns', 'list'], undefined, options)
  if (out.trim() === '') return []
  return (JSON.parse(out) as Array<{ name: string }>).map(n => n.name)
}

export async function netnsExists (name: string, options?: AbortOptions): Promise<boolean> {
  checkNamespaceName(name)
  return (await listNetns(options)).includes(name)
}

/** Creates the namespace (no-op if it exists) and brings its loopback up. */
export async function createNetns (name: string, options?: AbortOptions): Promise<void> {
  checkNamespaceName(name)
  if (!(await netnsExists(name, options))) {
    try {
      await ip(['netns', 'add', name], undefined, options)
    } catch (err) {
      // lost a race with another creator: fine as long as it exists now
      if (!(err instanceof CommandFailedError) || !(await netnsExists(name))) throw err
    }
  }
  await ip(['link', 'set', 'dev', 'lo', 'up'], name, options)
}

/** Deletes the namespace (no-op if absent). Devices inside it go with it; veth peers too. */
export async function deleteNetns (name: string, options?: AbortOptions): Promise<void> {
  checkNamespaceName(name)
  if (!(await netnsExists(name, options))) return
  try {
    await ip(['netns', 'del', name], undefined, options)
  } catch (err) {
    if (await netnsExists(name)) throw err
  }
}

/** Runs `command args...` inside the namespace and returns its stdout (throws CommandFailedError). */
export async function execInNetns (name: string, command: string, args: string[] = [], options?: RunOptions): Promise<string> {
  checkNamespaceName(name)
  return await run('ip', ['netns', 'exec', name, command, ...args], options)
}

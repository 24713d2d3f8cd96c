/**
 * What the idle reclaim (memory-reclaim.ts) does to the process, kept apart from its logic:
 *
 * - `fullCollector()`: V8's "last resort" collection - mark-compact with memory reduction, repeated
 *   until nothing more is freed, pooled pages released - the one `isolate->LowMemoryNotification()`
 *   runs. Reached through V8's gc extension: `--expose-gc` set at run time, the `gc` function taken
 *   from a fresh vm context and the flag turned off again, so no `gc` global appears for libraries
 *   to find (some call `globalThis.gc` when it exists) and no node flag is needed. Plain `gc()`
 *   (no options) is a regular mark-compact that keeps the pages pooled: `--trace-gc` shows
 *   "33.2 -> 21.6 MB committed, pooled 6 MB" against "(reduce) 33.3 -> 5.6 MB, pooled 0".
 * - `mallocTrim()`: glibc's malloc_trim(0) from the dmsnet addon (native/mem/mem.c); undefined when
 *   the addon does not load or the C library has none (musl): the collection alone still runs.
 * - `adviseRange()`: madvise(2) on one range of this process (memory-filepages.ts picks the ranges);
 *   undefined without the addon or off Linux.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { loadAddon } from '../netdev/native-loader.js'

type GcFunction = (options?: { type?: 'major' | 'minor', execution?: 'sync' | 'async', flavor?: 'regular' | 'last-resort' }) => void

let gc: GcFunction | undefined

export interface FullCollectorOptions {
  /**
   * Also drop the bytecode of every function not on the stack, with its feedback and compiled code
   * (memory-module.ts, `memory.reclaim.flushCodeIntervalMs`): V8's `--stress-flush-code` set for this
   * collection only (V8 reads it when a full collection starts marking). Without it, V8 12.4 drops
   * bytecode only after `--bytecode-old-age` (6) full collections without a call, ~3 reclaims.
   */
  flushCode?: boolean
}

/** V8's gc function, taken once without leaving a global behind. */
function gcFunction (): GcFunction {
  if (gc != null) return gc
  const exposed = (globalThis as { gc?: GcFunction }).gc
  if (typeof exposed === 'function') {
    gc = exposed
    return exposed
  }
  setFlagsFromString('--expose-gc')
  try {
    const taken = runInNewContext('gc') as GcFunction
    gc = taken
    return taken
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
}

/** Runs `fn` with a V8 boolean flag on, then off again (V8 reads such GC flags when a collection starts). */
function withV8Flag (flag: string, fn: () => void): void {
  setFlagsFromString(`--${flag}`)
  try {
    fn()
  } finally {
    setFlagsFromString(`--no-${flag}`)
  }
}

/**
 * A function that runs one plain major collection (mark-compact, freed pages kept pooled), for the
 * reclaim's tidy: ~5-15 ms on an idle daemon's heap, and nothing V8 will want back at once. Not
 * compacting more (`--compact-on-every-full-gc` around it, tried in a test script, stop 32): the
 * evacuated pages go to V8's pool, resident until a memory-reducing collection; RSS did not fall.
 */
export function majorCollector (): () => void {
  const run = gcFunction()
  return () => { run({ type: 'major', execution: 'sync', flavor: 'regular' }) }
}

/** A function that runs one full, memory-reducing collection, synchronously. */
export function fullCollector (options: FullCollectorOptions = {}): () => void {
  const run = gcFunction()
  if (options.flushCode !== true) return () => { run({ type: 'major', execution: 'sync', flavor: 'last-resort' }) }
  return () => { withV8Flag('stress-flush-code', () => { run({ type: 'major', execution: 'sync', flavor: 'last-resort' }) }) }
}

interface MemAddon {
  mallocTrim?: () => boolean
  mallocTrimSupported?: () => boolean
  adviseRange?: (start: number, length: number, advice: string) => number
  mallocInfo?: () => MallocInfo | undefined
}

/** glibc's mallinfo2() over every arena, bytes (native/mem/mem.c). */
export interface MallocInfo {
  /** live allocations */
  inUse: number
  /** free chunks malloc keeps resident or not (what malloc_trim may give back) */
  free: number
  /** blocks malloc gave their own mmap (large allocations) */
  mmapped: number
  /** of `free`, the top chunk of the main heap (what a plain free() trims) */
  topFree: number
}

/** The dmsnet addon, or undefined when it does not load (each function then falls back). */
function memAddon (): MemAddon | undefined {
  try {
    return loadAddon<MemAddon>()
  } catch {
    return undefined
  }
}

/** glibc's malloc_trim(0) (true: memory was released), or undefined where it is not available. */
export function mallocTrim (): (() => boolean) | undefined {
  const addon = memAddon()
  if (addon == null) return undefined
  const trim = addon.mallocTrim
  if (typeof trim !== 'function' || addon.mallocTrimSupported?.() !== true) return undefined
  return () => trim()
}

/** madvise(2) on one page-aligned range (0 or the errno), or undefined where it is not available. */
export function adviseRange (): ((start: number, length: number, advice: 'cold' | 'pageout' | 'dontneed' | 'random') => number) | undefined {
  if (process.platform !== 'linux') return undefined
  const advise = memAddon()?.adviseRange
  return typeof advise === 'function' ? (start, length, advice) => advise(start, length, advice) : undefined
}

/** glibc's malloc statistics now, or undefined where they are not available. */
export function mallocInfo (): MallocInfo | undefined {
  const info = memAddon()?.mallocInfo
  return typeof info === 'function' ? info() : undefined
}

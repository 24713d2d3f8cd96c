/**
 * The daemon's idle memory reclaim as a node module (`memory`), run by `dmsnet up` only (one node
 * per process: the collection and malloc_trim act on the whole process; the demo's and the tests'
 * in-process nodes do not run it). Settings: `memory.reclaim.*` (docs/config.md); why and figures:
 * docs/network.md, "Memory and idle cost". Its counters: `dmsnet_memory_reclaims_total`,
 * `dmsnet_memory_reclaimed_bytes_total`, `dmsnet_memory_reclaim_seconds_total`, and
 * `modules.memory` in `dmsnet status`. With the reclaim on or off it also sets the Buffer pool's slab
 * size (`memory.bufferPoolBytes`, memory-buffer-pool.ts) and runs the gate that turns V8's
 * optimising compiler on when the daemon gets busy (`memory.turbofanCpuPct`, memory-jit.ts).
 */
import { Counter } from 'prom-client'
import type { Vpn } from '../vpn/vpn.js'
import type { ModuleFactory, NodeComponents, NodeModule } from './module.js'
import { readFileSync } from 'node:fs'
import { getHeapCodeStatistics, getHeapSpaceStatistics, getHeapStatistics } from 'node:v8'
import { adviseRange, fullCollector, majorCollector, mallocInfo, mallocTrim } from './memory-native.js'
import { bufferSlabBytes, NODE_DEFAULT_POOL_BYTES, setBufferPool } from './memory-buffer-pool.js'
import { filePageReleaser, processReadahead } from './memory-filepages.js'
import { createMemoryReclaimer, type MemoryReclaimer } from './memory-reclaim.js'
import { createJitGate, type JitGate } from './memory-jit.js'

/** VPN packets (both ways) per check above which the node counts as carrying traffic. */
const VPN_BUSY_PACKETS = 50

/** A veto for the reclaim: the VPN module moved more than a trickle of packets since the last call. */
function vpnBusy (components: NodeComponents): () => boolean {
  let last = -1
  return () => {
    const vpn = components.getModule<NodeModule & { vpn?: Vpn }>('vpn')?.vpn
    if (vpn == null) return false
    const s = vpn.status()
    const packets = s.peers.reduce((n, p) => n + p.txPackets + p.rxPackets, 0)
    const moved = last < 0 ? 0 : packets - last
    last = packets
    return moved > VPN_BUSY_PACKETS
  }
}

export interface MemoryModule extends NodeModule {
  readonly reclaimer?: MemoryReclaimer
  readonly jit: JitGate
}

/** The VPN's data path is loaded (features/vpn.ts: `vpn` is undefined until first use). */
const vpnLoaded = (components: NodeComponents) => (): boolean =>
  components.getModule<NodeModule & { vpn?: Vpn }>('vpn')?.vpn != null

/** The node binary's read-ahead (memory-filepages.ts): one per process, like the pool and the collector. */
let readaheadOfProcess: ReturnType<typeof processReadahead> | undefined

export const memoryModule: ModuleFactory = (components) => {
  const readahead = readaheadOfProcess ??= processReadahead(adviseRange())
  // before anything else: the pool is process-wide and one node runs per `dmsnet up` (memory-buffer-pool.ts)
  const poolBytes = components.config.memory.bufferPoolBytes
  if (poolBytes !== NODE_DEFAULT_POOL_BYTES) setBufferPool(poolBytes)
  const jit = createJitGate({ cpuPct: components.config.memory.turbofanCpuPct, wanted: vpnLoaded(components) })
  const settings = components.config.memory.reclaim
  if (!settings.enabled) {
    return {
      name: 'memory',
      jit,
      start: async () => { readahead.status(); jit.start() },
      stop: async () => { jit.stop() },
      status: () => ({ reclaims: 0, bufferSlabBytes: bufferSlabBytes(), heapMb: heapBreakdownMb(), binaryReadahead: readahead.status(), ...jit.status() })
    } satisfies MemoryModule
  }
  const log = components.logger('memory')
  const trim = mallocTrim()
  const advise = settings.filePages !== 'off' ? adviseRange() : undefined
  const release = advise != null && settings.filePages !== 'off'
    ? filePageReleaser({ advice: settings.filePages, advise, smaps: () => readFileSync('/proc/self/smaps', 'utf8') })
    : undefined
  const plainCollect = fullCollector()
  const flushInterval = settings.flushCodeIntervalMs
  const flushingCollect = flushInterval > 0 ? fullCollector({ flushCode: true }) : undefined
  /** Bytecode and its metadata the flushing collections dropped, bytes; when the last one ran. */
  let codeFlushed = 0
  let codeFlushes = 0
  let lastFlushAt = -Infinity
  // Why at most once per interval: what a flush drops that the idle node does run (its timers'
  // code) compiles again right after, and its hot functions tier up again (TurboFan); flushing at
  // every reclaim cost ~0.1 point of a core at 19 peers (bench idle, docs/network.md). Code that
  // ran once (start-up, the last burst of traffic) is what a flush is for, and it does not come back.
  const collect = (): void => {
    if (flushingCollect == null || Date.now() - lastFlushAt < flushInterval) {
      plainCollect()
      return
    }
    const before = bytecodeBytes()
    flushingCollect()
    lastFlushAt = Date.now()
    codeFlushes++
    codeFlushed += Math.max(0, before - bytecodeBytes())
  }
  const reclaimer = createMemoryReclaimer({
    quietMs: settings.quietMs,
    minGrowthBytes: settings.minGrowthBytes,
    minIntervalMs: settings.minIntervalMs,
    settleGrowthBytes: settings.settleGrowthBytes,
    refillMs: settings.refillMs,
    collect,
    ...(settings.tidyIntervalMs > 0 ? { tidy: settings.tidyReduce ? plainCollect : majorCollector(), tidyIntervalMs: settings.tidyIntervalMs, tidyTrim: settings.tidyTrim } : {}),
    ...(trim != null ? { trim } : {}),
    ...(release != null ? { release } : {}),
    busy: vpnBusy(components)
  })
  const registers = [components.metrics]
  const runs = new Counter({ name: 'dmsnet_memory_reclaims_total', help: 'idle memory reclaims run (full collection + malloc_trim)', registers })
  const bytes = new Counter({ name: 'dmsnet_memory_reclaimed_bytes_total', help: 'resident memory the idle reclaims gave back (RSS before - after)', registers })
  const fileBytes = new Counter({ name: 'dmsnet_memory_file_pages_released_bytes_total', help: 'file-backed resident memory the idle reclaims released (memory.reclaim.filePages: RssFile before - after)', registers })
  const seconds = new Counter({ name: 'dmsnet_memory_reclaim_seconds_total', help: 'wall time the idle reclaims held the event loop', registers })
  // read at scrape time: the tidy is a counter of the reclaimer, not an event
  new Counter({ name: 'dmsnet_memory_tidies_total', help: 'major collections run between idle reclaims (memory.reclaim.tidyIntervalMs; memory-reducing ones with memory.reclaim.tidyReduce)', registers, collect () { this.reset(); this.inc(reclaimer.stats().tidies) } })
  reclaimer.addEventListener('reclaim', ({ detail: r }) => {
    runs.inc()
    if (r.returnedBytes > 0) bytes.inc(r.returnedBytes)
    seconds.inc(r.durationMs / 1000)
    if (r.fileRelease != null) fileBytes.inc(r.fileRelease.droppedBytes)
    log.debug({ rssBeforeMb: mb(r.rssBefore), rssAfterMb: mb(r.rssAfter), ms: Math.round(r.durationMs), trimmedMb: mb(r.trimmedBytes), fileMb: mb(r.fileRelease?.droppedBytes ?? 0) }, 'memory reclaimed')
  })
  const mod: MemoryModule = {
    name: 'memory',
    reclaimer,
    jit,
    start: async () => {
      // what it saves is what comes back after a `pageout` release (memory-filepages.ts)
      if (settings.fileReadahead === 'random' && settings.filePages === 'pageout') log.debug({ mappings: readahead.random() }, 'read-only file mappings without read-ahead')
      // read smaps (~1 MB of text) now, not in a status call: a status must not make the garbage it reports
      readahead.status()
      reclaimer.start()
      jit.start()
    },
    stop: async () => { reclaimer.stop(); jit.stop() },
    status: () => {
      const s = reclaimer.stats()
      return {
        reclaims: s.reclaims,
        settleReclaims: s.settleReclaims,
        busyChecks: s.busyChecks,
        tidies: s.tidies,
        tidyMs: Math.round(s.tidyMs),
        returnedMb: mb(s.returnedBytes),
        trimmedMb: mb(s.trimmedBytes),
        filePages: release != null ? settings.filePages : 'off',
        fileReleasedMb: mb(s.fileReleasedBytes),
        binaryReadahead: readahead.status(),
        flushCodeIntervalMs: flushInterval,
        codeFlushes,
        codeFlushedMb: mb(codeFlushed),
        lastAt: s.last != null ? new Date(s.last.at).toISOString() : null,
        lastRssMb: s.last != null ? mb(s.last.rssAfter) : null,
        mallocTrim: trim != null,
        bufferSlabBytes: bufferSlabBytes(),
        heapMb: heapBreakdownMb(),
        ...jit.status()
      }
    }
  }
  return mod
}

/** Where a daemon's anonymous memory is, MB (`modules.memory.heapMb` in `dmsnet status`). */
export interface HeapBreakdownMb {
  /** V8's committed memory per heap space (`new`, `old`, `code`, `trusted`, `large_object`...; spaces at 0 left out) */
  spaces: Record<string, number>
  /** the spaces together: the part of the anonymous RSS that is V8's heap */
  total: number
  /** what objects fill of it (live or not yet collected) */
  used: number
  /** outside the heap but V8's: ArrayBuffer backing stores (malloc'd), and V8's own malloc (compiler zones, GC tables) */
  arrayBuffers: number
  v8Malloced: number
  /** glibc's count over every arena (absent elsewhere): live allocations, mmapped blocks included, and free chunks kept (resident or not, malloc cannot tell) */
  mallocInUse?: number
  mallocFree?: number
}

/** The breakdown now; the anonymous RSS minus `total` and malloc's two is V8's page pool, thread stacks and the rest. */
export function heapBreakdownMb (): HeapBreakdownMb {
  const spaces: Record<string, number> = {}
  let total = 0
  let used = 0
  for (const s of getHeapSpaceStatistics()) {
    total += s.physical_space_size
    used += s.space_used_size
    if (s.physical_space_size > 0) spaces[s.space_name.replace(/_space$/, '')] = mb(s.physical_space_size)
  }
  const m = mallocInfo()
  return {
    spaces,
    total: mb(total),
    used: mb(used),
    arrayBuffers: mb(process.memoryUsage().arrayBuffers),
    v8Malloced: mb(getHeapStatistics().malloced_memory),
    ...(m != null ? { mallocInUse: mb(m.inUse + m.mmapped), mallocFree: mb(m.free) } : {})
  }
}

/** V8's bytecode arrays and their metadata (constant pools, position tables, feedback metadata), bytes. */
const bytecodeBytes = (): number => getHeapCodeStatistics().bytecode_and_metadata_size

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024 * 10) / 10

/**
 * The `node` flags a long-running daemon gets (issue 10): `dmsnet up` re-executes itself once
 * with them, in place (`process.execve`: same pid, same stdio, no resident parent), before it
 * loads libp2p. V8 sizes its heap when the process starts, so these cannot be set later from
 * inside (`v8.setFlagsFromString` does not resize the young generation of a running heap).
 *
 * Why this one (bench idle, `--ab-flags`, 3 flagged against 3 plain daemons in the same run,
 * docs/network.md "Memory and idle cost"): `--v8-pool-size=1` gives V8 one background worker
 * thread instead of one per core (each worker thread holds a stack and, with glibc, may get its own
 * malloc arena: where we believe the saving comes from). RSS median
 * 109 against 116 MB, heap in use and CPU equal. Not taken: `--max-semi-space-size=1` (-2.5 MB,
 * but libp2p stream throughput fell ~10-15 %: a VPN daemon is not only idle), `--optimize-for-size`
 * (-3 MB, within the spread between identical daemons), `--lite-mode` (no WebAssembly: the
 * daemon's fetch/undici fails), MALLOC_ARENA_MAX=2 with UV_THREADPOOL_SIZE=2 (within the spread).
 *
 * `--initial-old-space-size=64` (issue 13, the VPN's GC storms; docs/vpn.md "GC storms"): V8
 * counts ArrayBuffer bytes allocated since the last full GC against the old generation's limit,
 * and after its memory reducer ran (a node idle for a while) or under CPU contention that limit
 * sits ~9 MB above the live heap. A node carrying traffic (TUN slabs, Noise ciphertexts, socket
 * reads: ~3 buffers per byte) then ran a full GC every 70-400 ms for as long as the traffic
 * lasted. The flag is a floor under that limit (V8 skips limit-driven full GCs below it): after
 * 110 s idle, 0-3 full GCs per node per 5-s VPN phase against 9-17 without. The memory reducer
 * still collects an idle daemon; its heap may hold up to 64 MB before a limit-driven GC.
 *
 * With the idle reclaim (src/daemon/memory-reclaim.ts, session 6) `--max-semi-space-size=2` no
 * longer buys anything at idle: 3 against 3 daemons, both ending at 82.6-82.7 MB RSS (the reclaim
 * gives the young generation back either way); still not taken.
 *
 * `--no-incremental-marking-task` (issue 13, VPN TCP; docs/vpn.md "GC storms"): the storms came
 * back in about half of fresh 6-s VPN TCP phases even with the floor above (8-36 full GCs on one
 * node), with 39 MB of slack below the old generation's limit. `--trace-incremental-marking`
 * showed each one started by V8's incremental-marking *task*, scheduled right after a scavenge
 * that young ArrayBuffer bytes forced ("external memory pressure": TUN slabs, socket reads, Noise
 * buffers). Without the task, marking starts at the allocation limits only: 8 alternated pairs
 * of 6-s VPN TCP runs, at most 3 full GCs per node (storms in 0 of 8 against 4 of 8), both nodes'
 * CPU per GB 4.25 against 4.35 median (mean 4.20 against 4.72), faster in 6 of 8 pairs. An idle
 * daemon's memory was checked once only (2 VPN nodes, 90 s idle after a TCP burst: RSS 139/165
 * against 144/140 MB, heap in use 28.7/28.5 against 27.9/27.9 MB, the memory reducer's full GCs
 * ran alike): `bench idle` has not been run with it.
 *
 * Not taken, stop 37: `--max-opt=2` (TurboFan on demand, src/daemon/memory-jit.ts). An idle
 * daemon's code tiers up to TurboFan one function at a time for the first hour, and without it the
 * 3-minute growth of bench idle read 0-2.2 MB/h against up to 5.2 (same-run A/B), RSS -6 to -7 MB;
 * but 100 daemons on two cores (bench scale) never opened the gate in time: gossip to all p95
 * 2266 and 2445 ms, DHT lookup p95 up to 1329 ms, against 654-1674 and 454-731 with TurboFan
 * (docs/network.md, stop 37: "A baseline after the refill, and TurboFan on demand tried as the default").
 *
 * The same re-exec runs the minified bundle and sets malloc's environment (daemon-entry.ts).
 * `DMSNET_NODE_FLAGS` replaces the list (empty: no flags), e.g. to add an operator's memory
 * budget: `DMSNET_NODE_FLAGS="--v8-pool-size=1 --max-old-space-size=256"`. A flag already
 * given to `node` (command line or NODE_OPTIONS) is not added twice.
 *
 * A list that node would refuse (a typo: node's own "bad option", exit 9, from a process that has
 * already replaced ours), a word without `--` (node would run it as the script) or a flag that
 * replaces what node runs (`--version`, `--eval`...) is a `NodeFlagsError` naming the variable,
 * before the re-exec. Node itself is the judge of a flag: the list is tried once with
 * `node <flags> -e ''` (~20-90 ms, only when the variable is set; the defaults are known good).
 */
import { createRequire } from 'node:module'
import { CliError, EXIT_USAGE } from '../../errors.js'
import { bundleEntry, missingEnv } from './daemon-entry.js'

/** `DMSNET_NODE_FLAGS` holds something node would refuse or that is not a runtime flag. */
export class NodeFlagsError extends CliError {
  static override name = 'NodeFlagsError'
  constructor (message: string) {
    super(`DMSNET_NODE_FLAGS: ${message}; fix or unset the variable (docs/network.md, "Memory and idle cost")`, EXIT_USAGE)
  }
}

/** Flags that make node do something else than run the daemon. */
const NOT_RUNTIME = new Set(['--eval', '--print', '--check', '--version', '--help', '--interactive', '--test', '--run', '--watch', '--watch-path', '--v8-options', '--completion-bash', '--input-type', '--entry-url'])

export const DEFAULT_DAEMON_NODE_FLAGS: readonly string[] = ['--v8-pool-size=1', '--initial-old-space-size=64', '--no-incremental-marking-task']

/** Set in the re-executed daemon's environment so that it never re-executes again. */
const GUARD = 'DMSNET_NODE_FLAGS_APPLIED'

const flagName = (f: string): string => f.split('=')[0]!.replace(/_/g, '-')

/** The flags from `DMSNET_NODE_FLAGS` (whitespace-separated) or the defaults. */
export function daemonNodeFlags (env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.DMSNET_NODE_FLAGS
  if (raw == null) return [...DEFAULT_DAEMON_NODE_FLAGS]
  const flags = raw.split(/\s+/).filter(f => f !== '')
  for (const f of flags) {
    if (!/^--[a-z0-9]/i.test(f)) throw new NodeFlagsError(`"${f}" is not a node flag (each starts with --, e.g. --max-old-space-size=256)`)
    if (NOT_RUNTIME.has(flagName(f))) throw new NodeFlagsError(`"${f}" would make node do something else than run the daemon`)
  }
  return flags
}

/**
 * Asks node whether it accepts `flags` (`node <flags> -e ''` must exit 0); throws NodeFlagsError
 * with node's own complaint when it does not.
 */
export function checkNodeFlags (flags: readonly string[], execPath = process.execPath): void {
  if (flags.length === 0) return
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  // node:child_process only here (a daemon that never checks flags does not load it: ~1 MB RSS)
  const { spawnSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process')
  const r = spawnSync(execPath, [...flags, '-e', ''], { encoding: 'utf8', timeout: 30_000, env, stdio: ['ignore', 'ignore', 'pipe'] })
  if (r.error != null) throw new NodeFlagsError(`could not try the flags with ${execPath}: ${r.error.message}`)
  if (r.status === 0) return
  const why = (r.stderr ?? '').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('Try --help')).slice(0, 2).join('; ')
  throw new NodeFlagsError(`node refuses "${flags.join(' ')}" (${why !== '' ? why : `exit ${r.status ?? r.signal}`})`)
}

/** Of `flags`, those not already given to this node (its own argv or NODE_OPTIONS). */
export function missingFlags (flags: readonly string[], execArgv: readonly string[], nodeOptions = ''): string[] {
  const have = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(f => f.startsWith('--')).map(flagName))
  return flags.filter(f => !have.has(flagName(f)))
}

/**
 * Replaces this process with `node <flags> <its own execArgv> <the bundle or its own script>
 * <its own arguments>`, with the daemon's environment (daemon-entry.ts), when a daemon flag, the
 * bundle or a variable is missing (throws NodeFlagsError, before any re-exec, for a list node
 * would refuse); returns (doing nothing) when nothing is, after a re-exec, or where
 * `process.execve` does not exist (Node < 22.15, Windows).
 */
export function reexecWithDaemonFlags (): void {
  if (process.env[GUARD] === '1' || typeof process.execve !== 'function') return
  const add = missingFlags(daemonNodeFlags(), process.execArgv, process.env.NODE_OPTIONS)
  const bundle = bundleEntry(process.argv[1])
  const env = missingEnv()
  if (add.length === 0 && bundle == null && Object.keys(env).length === 0) return
  if (process.env.DMSNET_NODE_FLAGS != null) checkNodeFlags(add)
  const [script, ...args] = process.argv.slice(1)
  process.execve(process.execPath, [process.execPath, ...add, ...process.execArgv, bundle ?? script!, ...args], { ...process.env, ...env, [GUARD]: '1' })
}

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
 * `DMSNET_NODE_FLAGS` replaces the list (empty: no re-exec), e.g. to add an operator's memory
 * budget: `DMSNET_NODE_FLAGS="--v8-pool-size=1 --max-old-space-size=256"`. A flag already
 * given to `node` (command line or NODE_OPTIONS) is not added twice.
 */
export const DEFAULT_DAEMON_NODE_FLAGS: readonly string[] = ['--v8-pool-size=1']

/** Set in the re-executed daemon's environment so that it never re-executes again. */
const GUARD = 'DMSNET_NODE_FLAGS_APPLIED'

const flagName = (f: string): string => f.split('=')[0]!.replace(/_/g, '-')

/** The flags from `DMSNET_NODE_FLAGS` (whitespace-separated) or the defaults. */
export function daemonNodeFlags (env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.DMSNET_NODE_FLAGS
  return raw == null ? [...DEFAULT_DAEMON_NODE_FLAGS] : raw.split(/\s+/).filter(f => f !== '')
}

/** Of `flags`, those not already given to this node (its own argv or NODE_OPTIONS). */
export function missingFlags (flags: readonly string[], execArgv: readonly string[], nodeOptions = ''): string[] {
  const have = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(f => f.startsWith('--')).map(flagName))
  return flags.filter(f => !have.has(flagName(f)))
}

/**
 * Replaces this process with `node <flags> <its own execArgv and argv>` when some daemon flag is
 * missing; returns (doing nothing) when none is, after a re-exec, or where `process.execve` does
 * not exist (Node < 22.15, Windows).
 */
export function reexecWithDaemonFlags (): void {
  if (process.env[GUARD] === '1' || typeof process.execve !== 'function') return
  const add = missingFlags(daemonNodeFlags(), process.execArgv, process.env.NODE_OPTIONS)
  if (add.length === 0) return
  process.execve(process.execPath, [process.execPath, ...add, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [GUARD]: '1' })
}

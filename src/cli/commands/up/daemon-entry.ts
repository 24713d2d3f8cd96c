/**
 * What the re-executed daemon runs (issue 10; node-flags.ts does the re-exec; figures in
 * docs/network.md, "Memory and idle cost"):
 *
 * - the minified bundle dist/bundle/dmsnet.mjs (scripts/bundle.js; code behind a dynamic import(),
 *   e.g. the VPN, in chunks of its own next to it, loaded when used) instead of the ~1,060
 *   modules of dist/src. V8 keeps each script's source text, a module record and, once a stack
 *   trace is taken, a line-end table: one idle daemon holds ~9 MB less V8 heap with the bundle.
 *   Only when this process was started from this package's compiled CLI (bin/dmsnet.js or
 *   dist/src/cli/main.js) and the bundle is at least as new as dist/src/cli/main.js (a `tsc`
 *   without `npm run build` leaves it stale: then the modules). `DMSNET_BUNDLE=0` turns it off.
 * - glibc's malloc without its dynamic mmap threshold. glibc raises the threshold to the size of
 *   the largest block it freed (up to 32 MB), after which blocks of a few hundred kB come from the
 *   brk heap, where they fragment and stay resident: compiling the bundle left 16 MB of such free
 *   pages in `[heap]`. Setting `MALLOC_TRIM_THRESHOLD_` (here to glibc's own default, 128 KiB)
 *   fixes both thresholds at their defaults: `[heap]` 19 -> 3 MB. An operator's own value wins.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Environment the daemon gets (when not already set). */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_TRIM_THRESHOLD_: '131072' }

/** The dmsnet package root above `from` (this file: dist/src/cli/commands/up, or dist/bundle). */
export function packageRoot (from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dmsnet') return dir
      } catch { /* not ours: keep looking */ }
    }
    if (dirname(dir) === dir) return undefined
  }
}

const real = (p: string): string | undefined => {
  try {
    return realpathSync(p)
  } catch {
    return undefined
  }
}

/**
 * The bundle to run instead of `script` (this process's argv[1]), or undefined: keep `script`
 * (already the bundle, started from elsewhere, no fresh bundle, or DMSNET_BUNDLE=0).
 */
export function bundleEntry (script: string | undefined, env: NodeJS.ProcessEnv = process.env, root = packageRoot()): string | undefined {
  if (env.DMSNET_BUNDLE === '0' || script == null || root == null) return undefined
  const bundle = join(root, 'dist', 'bundle', 'dmsnet.mjs')
  const main = join(root, 'dist', 'src', 'cli', 'main.js')
  const from = real(script)
  if (from == null || (from !== real(main) && from !== real(join(root, 'bin', 'dmsnet.js')))) return undefined
  if (!existsSync(bundle) || !existsSync(main)) return undefined
  return statSync(bundle).mtimeMs >= statSync(main).mtimeMs ? bundle : undefined
}

/** Of DAEMON_ENV, the variables `env` does not set yet. */
export function missingEnv (env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(DAEMON_ENV).filter(([k]) => env[k] == null))
}

/**
 * The idle reclaim's optional last step (memory-reclaim.ts; `memory.reclaim.filePages`): advise the
 * kernel about this process's resident read-only file pages - the node binary's code and read-only
 * data (~45 MB of an idle daemon's ~80 MB RSS), libc, libstdc++, the addons - most of which start-up
 * touched once and idle never touches again.
 *
 * Which mappings: file-backed (a path, not /dev, not deleted), private, readable and not writable,
 * not locked or huge-page or PFN/IO mapped, with no anonymous page (`Anonymous: 0 kB`). The last
 * rule keeps out every mapping that holds a copy-on-write page (RELRO after the dynamic linker's
 * relocations, a text page a debugger patched): MADV_DONTNEED on such a page would drop the written
 * copy and bring back the file's bytes. What remains is, page for page, what the kernel's own
 * reclaim may drop at any time under memory pressure and re-read from the file: no new failure mode.
 *
 * The advice (docs/network.md "Memory and idle cost" has the figures and what each really frees):
 * - `cold`: MADV_COLD, the pages go to the inactive list; nothing is unmapped, RSS unchanged.
 * - `pageout`: MADV_PAGEOUT, the kernel reclaims them now - but only pages no other process maps
 *   (one daemon per host: freed for real; 100 daemons on one host: nothing, the pages are shared).
 * - `dontneed`: MADV_DONTNEED, unmapped from this process; they stay in the page cache (shared with
 *   any other node process) and what is touched again comes back as a minor fault.
 */
import { readFileSync, realpathSync } from 'node:fs'

/** One mapping of /proc/self/smaps: its range, permissions, path, kB fields and VmFlags. */
export interface Vma {
  start: number
  end: number
  perms: string
  path: string
  /** the "Name: N kB" lines, kB */
  kb: Record<string, number>
  flags: string[]
}

export type FilePageAdvice = 'cold' | 'pageout' | 'dontneed'

export interface FilePageRelease {
  advice: FilePageAdvice
  /** mappings advised */
  vmas: number
  /** their resident bytes just before (what `dontneed` unmaps; `pageout` frees at most that) */
  residentBytes: number
  /** how much the process's file-backed RSS (`RssFile`) fell: what really left it (0 for `cold`) */
  droppedBytes: number
  /** wall time, ms (reading smaps included) */
  durationMs: number
  /** mappings the kernel refused, with the errno (none expected) */
  errors: number
}

/** Parses /proc/<pid>/smaps text. */
export function parseSmaps (text: string): Vma[] {
  const out: Vma[] = []
  let cur: Vma | undefined
  for (const line of text.split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+ *(.*)$/.exec(line)
    if (h != null) {
      cur = { start: parseInt(h[1]!, 16), end: parseInt(h[2]!, 16), perms: h[3]!, path: h[4]!, kb: {}, flags: [] }
      out.push(cur)
      continue
    }
    if (cur == null) continue
    const f = /^(\w+):\s+(\d+) kB$/.exec(line)
    if (f != null) cur.kb[f[1]!] = Number(f[2])
    else if (line.startsWith('VmFlags:')) cur.flags = line.slice(8).trim().split(/\s+/)
  }
  return out
}

/** VmFlags that rule a mapping out: locked, hugetlb, PFN/IO mapped, userfaultfd-armed. */
const EXCLUDED_FLAGS = new Set(['lo', 'ht', 'pf', 'io', 'um', 'uw'])

/** The mappings the release may advise (module comment: why each rule). */
export function releasableVmas (vmas: Vma[]): Vma[] {
  return vmas.filter(v =>
    v.path.startsWith('/') && !v.path.startsWith('/dev/') && !v.path.endsWith('(deleted)') &&
    v.perms[0] === 'r' && v.perms[1] === '-' && v.perms[3] === 'p' &&
    v.kb.Anonymous === 0 && (v.kb.Swap ?? 0) === 0 && (v.kb.Rss ?? 0) > 0 &&
    !v.flags.some(f => EXCLUDED_FLAGS.has(f)))
}

export interface FilePageReleaseOptions {
  advice: FilePageAdvice
  /** madvise(2) on one range; 0 or the errno (the addon's `adviseRange`, native/mem/mem.c) */
  advise: (start: number, length: number, advice: FilePageAdvice) => number
  /** /proc/self/smaps now (injectable for tests) */
  smaps: () => string
  /** file-backed RSS now, bytes (default: `RssFile` of /proc/self/status) */
  fileRss?: () => number
  /**
   * Release again only once file-backed RSS is this far above where it settled after the last
   * release, bytes (default 16 MiB). "Settled" is its level at the next call after a release (the
   * reclaim calls at most once a minute): what an idle daemon touches again comes straight back
   * (10-18 MB within seconds of a release: its working set and the kernel's fault-around), and
   * releasing that at every reclaim would only churn it (seen in bench idle: a release at every
   * reclaim with a threshold counted from the level right after the release).
   */
  minRegrowthBytes?: number
  now?: () => number
}

/**
 * A function that advises every releasable mapping and says what it did, or returns undefined:
 * at the first call after a release (it notes where file-backed RSS settled), and later while
 * file-backed RSS is less than `minRegrowthBytes` above that.
 */
export function filePageReleaser (options: FilePageReleaseOptions): () => FilePageRelease | undefined {
  const now = options.now ?? (() => performance.now())
  const fileRss = options.fileRss ?? selfFileRss
  const minRegrowth = options.minRegrowthBytes ?? 16 * 1024 * 1024
  let released = false
  let settled: number | undefined
  return () => {
    const t0 = now()
    const before = fileRss()
    if (released) {
      if (settled == null) {
        settled = before
        return undefined
      }
      if (before - settled < minRegrowth) return undefined
    }
    const targets = releasableVmas(parseSmaps(options.smaps()))
    let residentBytes = 0
    let errors = 0
    for (const v of targets) {
      if (options.advise(v.start, v.end - v.start, options.advice) !== 0) errors++
      else residentBytes += (v.kb.Rss ?? 0) * 1024
    }
    released = true
    settled = undefined
    const droppedBytes = Math.max(0, before - fileRss())
    return { advice: options.advice, vmas: targets.length - errors, residentBytes, droppedBytes, durationMs: now() - t0, errors }
  }
}

export type BinaryReadahead = 'random' | 'kernel' | 'mixed' | 'unknown'

const readOnlyFile = (v: Vma): boolean => v.path.startsWith('/') && !v.path.startsWith('/dev/') && !v.path.endsWith('(deleted)') && v.perms[0] === 'r' && v.perms[1] === '-' && v.perms[3] === 'p'

/**
 * Whether the node binary's read-only mappings read ahead: `random` when every one carries
 * MADV_RANDOM (VmFlags `rr`), `kernel` when none does, `mixed` otherwise; `unknown` when smaps
 * shows no mapping of `execPath`.
 */
export function binaryReadahead (vmas: Vma[], execPath: string): BinaryReadahead {
  const own = vmas.filter(v => v.path === execPath && readOnlyFile(v))
  if (own.length === 0) return 'unknown'
  const rr = own.filter(v => v.flags.includes('rr')).length
  return rr === own.length ? 'random' : rr === 0 ? 'kernel' : 'mixed'
}

/**
 * MADV_RANDOM on every private, read-only, file-backed mapping not yet so advised (the node binary,
 * V8's copy of its builtins mapped from it, libc, libstdc++, the addons); returns how many.
 *
 * Why (`memory.reclaim.fileReadahead`, docs/network.md "The node binary's pages and the page
 * cache"): a fault on a page that is not in the page cache reads ahead (up to 128 kB, as large
 * folios), and later faults map those cached neighbours too (fault-around, whole folios). After the
 * reclaim's `pageout` release the pages are out of the cache, and what an idle daemon touches again
 * came back with ~4 MB of its neighbours (bench idle, own copy of the binary: 28.4 against 24.6 MB
 * of file pages). With the advice such a fault reads the one page. It changes no content and no
 * protection; fault-around of pages still cached and large folios already cached are as before.
 * Its price: more, smaller reads the first time a code path runs after a release.
 */
export function adviseRandomReadahead (vmas: Vma[], advise: (start: number, length: number) => number): number {
  let n = 0
  for (const v of vmas) {
    if (readOnlyFile(v) && !v.flags.includes('rr') && advise(v.start, v.end - v.start) === 0) n++
  }
  return n
}

/**
 * This process's file read-ahead, once per process (several in-process nodes share one):
 * `random()` runs adviseRandomReadahead the first time (the addon's `adviseRange`) and returns how
 * many mappings it advised; `status()` is binaryReadahead, read once (the binary's mappings keep
 * their advice; only an unreadable smaps is read again next time). Off Linux or without
 * the addon `random()` does nothing. `smaps` and `execPath` are injectable for tests.
 */
export function processReadahead (advise: ((start: number, length: number, advice: 'random') => number) | undefined, smaps = (): string => readFileSync('/proc/self/smaps', 'utf8'), execPath = (): string => realpathSync(process.execPath)): { random: () => number, status: () => BinaryReadahead } {
  let seen: BinaryReadahead | undefined
  let advised = false
  return {
    random () {
      if (advised || advise == null) return 0
      advised = true
      seen = undefined
      try {
        return adviseRandomReadahead(parseSmaps(smaps()), (start, length) => advise(start, length, 'random'))
      } catch {
        return 0 // no /proc: nothing to advise
      }
    },
    status () {
      if (seen != null) return seen
      try {
        // kept even when `unknown` (the binary replaced on disk under a running daemon: its path
        // ends in "(deleted)"): a status call must not parse ~1 MB of smaps every time
        seen = binaryReadahead(parseSmaps(smaps()), execPath())
        return seen
      } catch {
        return 'unknown' // smaps unreadable (no /proc, out of fds): tried again next time
      }
    }
  }
}

/** `RssFile` of /proc/self/status in bytes (0 where unreadable). */
export function selfFileRss (): number {
  try {
    return Number(/^RssFile:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024
  } catch {
    return 0
  }
}

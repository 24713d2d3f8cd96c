/**
 * The node binary the benches' daemons run: a copy of this node, made for the run, whose page cache
 * is dropped before the first daemon starts, so its file pages come in only through the daemons'
 * own page faults, as after a reboot.
 *
 * Why (stop 33): RSS counts every page of the binary a process maps, and how many pages one fault
 * maps depends on the page cache, not on the daemon. On this kernel (6.18, ext4 with large folios)
 * a binary read with read(2) or sequential mmap readahead (`cp`, `nm`, an integrity check, `npm
 * ci` writing it) sits in the cache as folios of up to 2 MB, and a fault maps its whole folio:
 * `node -e` alone read 48 MB of `RssFile` with such a cache and 37 MB after the cache was dropped,
 * and a 100-daemon `bench scale` 90.1 against ~80 MB per daemon, with the same anonymous memory
 * (29.5 MB). The figure must not depend on what some other tool read before the run; so every run
 * starts from the same, cold state. The daemons share the copy (one host, one binary), so the
 * pages stay shared between them as before. `sharedCacheState` says what the bench's own binary
 * looked like, for the record.
 */
import { spawnSync } from 'node:child_process'
import { closeSync, copyFileSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface ColdNode {
  /** the copy's path: the daemons' execPath */
  path: string
  /** /proc/meminfo FileHugePages (the host's file pages cached as 2-MB folios) before the copy, MB */
  fileHugePagesMb: number | null
  /** whether the copy's page cache could be dropped (dd iflag=nocache); false: it is warm, figures may read high */
  dropped: boolean
  remove: () => void
}

function fileHugePagesMb (): number | null {
  const m = /^FileHugePages:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))
  return m == null ? null : Math.round(Number(m[1]) / 1024 * 10) / 10
}

/**
 * Drops a file's clean pages from the page cache (GNU dd's `iflag=nocache count=0`:
 * posix_fadvise(POSIX_FADV_DONTNEED) on the whole file); pages some process maps stay. False when
 * dd is missing or refuses.
 */
export function dropPageCache (path: string): boolean {
  const r = spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore', timeout: 30_000 })
  return r.status === 0
}

const PREFIX = 'dmsnet-bench-node-'

/** Copies left by a bench that was killed (its pid, in the name, is gone): 120 MB each. */
function sweepCopies (): void {
  for (const d of readdirSync(tmpdir())) {
    const pid = Number(/^dmsnet-bench-node-(\d+)-/.exec(d)?.[1])
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      process.kill(pid, 0)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(tmpdir(), d), { recursive: true, force: true })
    }
  }
}

/** Copies this node binary into a directory of its own, flushes it to disk and drops it from the cache. */
export function coldNodeCopy (name = 'node'): ColdNode {
  const hugeMb = fileHugePagesMb()
  sweepCopies()
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`))
  const path = join(dir, name)
  copyFileSync(process.execPath, path)
  // written pages are dirty until written back, and dirty pages are not dropped
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return { path, fileHugePagesMb: hugeMb, dropped: dropPageCache(path), remove: () => { rmSync(dir, { recursive: true, force: true }) } }
}

/**
 * The node binary the benches' daemons run: a copy of this node, made for the run on a disk
 * directory (/var/tmp), flushed and dropped from the page cache before the first daemon starts, so
 * its file pages come in only through the daemons' own page faults, as after a reboot.
 *
 * Why (stop 33): RSS counts every page of the binary a process maps, and how many pages one fault
 * maps depends on the page cache, not on the daemon. On this kernel (6.18, ext4 with large folios)
 * a binary read with read(2) or sequential read-ahead (`cp`, `nm`, a checksum, a script touching it
 * in order) sits in the cache as folios of up to 2 MB, and a fault maps its whole folio: `node -e`
 * alone had 48 MB of `RssFile` with such a cache and 37 MB after the cache was dropped, and a
 * 100-daemon `bench scale` 90.1 against 79.8 MB of RSS per daemon with the same anonymous memory.
 * A figure must not depend on what some other tool read before the run, so every run starts from
 * the same, cold state. Whether the daemons of a run share a copy (one host, one binary) or each
 * has its own (a host each) is the bench's choice: bench idle `--private-node`, bench scale
 * `--node-binary` (private by default there: its sites stand for hosts of their own).
 *
 * Not /tmp: where it is a tmpfs the copy would live in memory (shmem: nothing to drop) and where it
 * is mounted noexec the daemons could not run it. A copy left by a killed bench (its pid, in the
 * name, is gone) is removed by the next one.
 */
import { spawnSync } from 'node:child_process'
import { closeSync, copyFileSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

export interface ColdNode {
  /** the copy's path: the daemons' execPath */
  path: string
  /** whether none of the copy is in the page cache now (util-linux `fincore`; dd's word where it is missing) */
  dropped: boolean
  remove: () => void
}

const DIR = '/var/tmp'
const PREFIX = 'dmsnet-bench-node-'

/** /proc/meminfo FileHugePages: the host's file pages cached as 2-MB folios, MB (a sign that binaries were read in order) */
export function fileHugePagesMb (): number | null {
  const m = /^FileHugePages:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))
  return m == null ? null : Math.round(Number(m[1]) / 1024 * 10) / 10
}

/**
 * Drops a file's clean pages from the page cache (GNU dd's `iflag=nocache count=0`:
 * posix_fadvise(POSIX_FADV_DONTNEED) on the whole file; pages some process maps stay) and says
 * whether none is left (`fincore`), or, without fincore, whether dd succeeded.
 */
export function dropPageCache (path: string): boolean {
  const dd = spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore', timeout: 30_000 })
  const fin = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8', timeout: 30_000 })
  if (fin.status === 0) return fin.stdout.trim() === '0'
  return dd.status === 0
}

function sweepCopies (): void {
  for (const d of readdirSync(DIR)) {
    const pid = Number(new RegExp(`^${PREFIX}(\\d+)-`).exec(d)?.[1])
    if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) rmSync(join(DIR, d), { recursive: true, force: true })
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/** Copies this node binary into a directory of its own, flushes it to disk and drops it from the page cache. */
export function coldNodeCopy (name = 'node'): ColdNode {
  sweepCopies()
  const dir = mkdtempSync(join(DIR, `${PREFIX}${process.pid}-`))
  const path = join(dir, name)
  copyFileSync(process.execPath, path)
  // written pages are dirty until written back, and dirty pages are not dropped
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return { path, dropped: dropPageCache(path), remove: () => { rmSync(dir, { recursive: true, force: true }) } }
}

/**
 * Private files (VPN state, control token) written and read without following symbolic links:
 * a local user who can plant a link where we write must not make a root daemon overwrite or leak
 * another file. Writes go to a fresh, exclusively created temporary file (O_EXCL | O_NOFOLLOW)
 * and are renamed over the target (rename replaces a link, it never writes through it); reads
 * refuse a link (O_NOFOLLOW). Directories that hold such files must not be writable by others.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, constants, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { lstat, mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { DmsnetError } from './errors.js'

/** A data, state or socket path is unsafe: a symbolic link, or a directory others may write to. */
export class UnsafePathError extends DmsnetError {
  static override name = 'UnsafePathError'
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW

/**
 * Refuses a directory that another user may write to (group/other write bit, or owned by someone
 * other than us or root). `noLink` also refuses a symbolic link in place of the directory.
 */
export async function assertPrivateDir (dir: string, options: { noLink?: boolean } = {}): Promise<void> {
  const st = options.noLink === true ? await lstat(dir) : await stat(dir)
  if (st.isSymbolicLink()) throw new UnsafePathError(`${dir} is a symbolic link; refusing to keep private files there`)
  if (!st.isDirectory()) throw new UnsafePathError(`${dir} is not a directory`)
  if ((st.mode & 0o022) !== 0) throw new UnsafePathError(`${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)}); run chmod go-w on it`)
  const uid = process.getuid?.()
  if (uid != null && st.uid !== uid && st.uid !== 0) throw new UnsafePathError(`${dir} belongs to another user (uid ${st.uid})`)
}

/** Creates `dir` (0700) when missing, then checks it as `assertPrivateDir` does, refusing a link. */
export async function ensurePrivateDir (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await assertPrivateDir(dir, { noLink: true })
}

export interface AtomicWriteOptions {
  /** File mode, default 0600 (the umask never narrows or widens it). */
  mode?: number
  /** Create the parent directory (0700) when missing. Default false. */
  mkdirParent?: boolean
}

function tempName (file: string): string {
  return `${file}.${randomBytes(6).toString('hex')}.tmp`
}

/**
 * The one atomic private-file writer: exclusive create of a random temporary file next to
 * `file` (never through a planted link), write, chmod, fsync, rename over `file`. A reader sees
 * the old content or the new, never a half-written file. `options` may be a mode (older callers).
 */
export async function writeFileAtomic (file: string, data: string | Uint8Array, options: AtomicWriteOptions | number = {}): Promise<void> {
  const { mode = 0o600, mkdirParent = false } = typeof options === 'number' ? { mode: options } : options
  if (mkdirParent) await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = tempName(file)
  const fh = await open(tmp, WRITE_FLAGS, mode)
  try {
    await fh.writeFile(data)
    await fh.chmod(mode) // the umask may have narrowed or (never) widened it
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => {})
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  try {
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

/** `writeFileAtomic` for synchronous callers (first-start identity, CLI key generation). */
export function writeFileAtomicSync (file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const { mode = 0o600, mkdirParent = false } = options
  if (mkdirParent) mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = tempName(file)
  const fd = openSync(tmp, WRITE_FLAGS, mode)
  try {
    writeFileSync(fd, data)
    fchmodSync(fd, mode)
    fsyncSync(fd)
    closeSync(fd)
    renameSync(tmp, file)
  } catch (err) {
    try { closeSync(fd) } catch { /* already closed */ }
    rmSync(tmp, { force: true })
    throw err
  }
}

/** Reads a text file, refusing a symbolic link (ELOOP becomes UnsafePathError). ENOENT passes through. */
export async function readFileNoFollow (file: string): Promise<string> {
  let fh
  try {
    fh = await open(file, READ_FLAGS)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new UnsafePathError(`${file} is a symbolic link; refusing to read it`, { cause: err })
    throw err
  }
  try {
    return await fh.readFile('utf8')
  } finally {
    await fh.close()
  }
}

/**
 * The control token: a random secret the daemon writes next to its socket (mode 0600) and the CLI
 * sends with every call. The socket's own mode already keeps other users out; the token also
 * stops a process that can reach the socket path (a container bind-mount, a stale permission)
 * but cannot read the data dir.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { dirname } from 'node:path'
import { assertPrivateDir, readFileNoFollow, writeFileAtomic } from '../safe-file.js'

/**
 * Writes a fresh token. The directory must not be writable by others (UnsafePathError): whoever
 * can write there could swap the file under us; the file itself is created exclusively (0600,
 * never through a link planted at its name) and renamed into place.
 */
export async function writeToken (file: string): Promise<string> {
  const token = randomBytes(32).toString('hex')
  await assertPrivateDir(dirname(file))
  await writeFileAtomic(file, token + '\n', 0o600)
  return token
}

/** Reads the token, refusing a symbolic link in its place (UnsafePathError). */
export async function readToken (file: string): Promise<string> {
  return (await readFileNoFollow(file)).trim()
}

/** Constant-time comparison; hashing first makes lengths equal so length leaks nothing either. */
export function tokenMatches (expected: string, given: string | undefined): boolean {
  if (given == null) return false
  const a = createHash('sha256').update(expected).digest()
  const b = createHash('sha256').update(given).digest()
  return timingSafeEqual(a, b)
}

/**
 * The control token: a random secret the daemon writes next to its socket (mode 0600) and the CLI
 * sends with every call. The socket's own mode already keeps other users out; the token also
 * stops a process that can reach the socket path (a container bind-mount, a stale permission)
 * but cannot read the data dir.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, writeFile, chmod } from 'node:fs/promises'

export async function writeToken (file: string): Promise<string> {
  const token = randomBytes(32).toString('hex')
  await writeFile(file, token + '\n', { mode: 0o600 })
  await chmod(file, 0o600) // writeFile keeps the mode of an existing file
  return token
}

export async function readToken (file: string): Promise<string> {
  return (await readFile(file, 'utf8')).trim()
}

/** Constant-time comparison; hashing first makes lengths equal so length leaks nothing either. */
export function tokenMatches (expected: string, given: string | undefined): boolean {
  if (given == null) return false
  const a = createHash('sha256').update(expected).digest()
  const b = createHash('sha256').update(given).digest()
  return timingSafeEqual(a, b)
}

/**
 * The standard v1 swarm key file (go-libp2p / Kubo `swarm.key`):
 *
 * ```
 * /key/swarm/psk/1.0.0/
 * /base16/
 * <64 hex characters>
 * ```
 *
 * `/base64/` and `/bin/` (raw bytes) are accepted as the encoding line too, as go-libp2p does.
 * Parsing is strict about the header (unlike `@libp2p/pnet`, which ignores it) and lenient about
 * the trailing newline and `\r\n` line ends, so files written by Kubo, `ipfs-swarm-key-gen` and
 * `@libp2p/pnet` all load.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { writeFileAtomicSync } from '../safe-file.js'
import { SwarmKeyEncodingError, SwarmKeyHeaderError, SwarmKeyLengthError } from './errors.js'

export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'
export const SWARM_KEY_LENGTH = 32

export type SwarmKeyEncoding = 'base16' | 'base64'

/** 32 random bytes from the OS CSPRNG. */
export function generateSwarmKey (): Uint8Array {
  return new Uint8Array(randomBytes(SWARM_KEY_LENGTH))
}

/** The file text for `psk` (with a trailing newline, like Kubo's generator). */
export function formatSwarmKey (psk: Uint8Array, encoding: SwarmKeyEncoding = 'base16'): string {
  if (psk.byteLength !== SWARM_KEY_LENGTH) {
    throw new SwarmKeyLengthError(`a swarm key is ${SWARM_KEY_LENGTH} bytes, got ${psk.byteLength}`)
  }
  const body = encoding === 'base16' ? Buffer.from(psk).toString('hex') : Buffer.from(psk).toString('base64')
  return `${SWARM_KEY_HEADER}\n/${encoding}/\n${body}\n`
}

function checkLength (key: Uint8Array): Uint8Array {
  if (key.byteLength !== SWARM_KEY_LENGTH) {
    throw new SwarmKeyLengthError(`swarm key decodes to ${key.byteLength} bytes; it must be ${SWARM_KEY_LENGTH}`)
  }
  return key
}

/** Splits off the first line (ending in `\n` or `\r\n`) of `bytes` from `start`. */
function line (bytes: Uint8Array, start: number): { text: string, next: number } {
  let end = bytes.indexOf(0x0a, start)
  const next = end === -1 ? bytes.byteLength : end + 1
  if (end === -1) end = bytes.byteLength
  return { text: Buffer.from(bytes.subarray(start, end)).toString('utf8').replace(/\r$/, ''), next }
}

/** Parses a swarm key file's contents into the 32-byte PSK. */
export function parseSwarmKey (input: string | Uint8Array): Uint8Array {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input
  const header = line(bytes, 0)
  if (header.text.trim() !== SWARM_KEY_HEADER) {
    throw new SwarmKeyHeaderError(`swarm key must start with the line ${SWARM_KEY_HEADER}, found ${JSON.stringify(header.text.slice(0, 40))}`)
  }
  const enc = line(bytes, header.next)
  const encoding = enc.text.trim()
  if (encoding === '/bin/') {
    // raw key bytes follow; tolerate one trailing newline
    let raw = bytes.subarray(enc.next)
    if (raw.byteLength === SWARM_KEY_LENGTH + 1 && raw[SWARM_KEY_LENGTH] === 0x0a) raw = raw.subarray(0, SWARM_KEY_LENGTH)
    return checkLength(new Uint8Array(raw))
  }
  const rest = Buffer.from(bytes.subarray(enc.next)).toString('utf8')
  // the key is the next line; anything after it must be blank
  const lines = rest.split(/\r?\n/)
  const body = (lines[0] ?? '').trim()
  if (lines.slice(1).some(l => l.trim() !== '')) {
    throw new SwarmKeyEncodingError('swarm key file has extra lines after the key')
  }
  if (body === '') throw new SwarmKeyEncodingError('swarm key file has no key line')
  if (encoding === '/base16/') {
    if (!/^[0-9a-fA-F]*$/.test(body) || body.length % 2 !== 0) {
      throw new SwarmKeyEncodingError('swarm key is not valid base16 (hex)')
    }
    return checkLength(new Uint8Array(Buffer.from(body, 'hex')))
  }
  if (encoding === '/base64/') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw new SwarmKeyEncodingError('swarm key is not valid base64')
    }
    return checkLength(new Uint8Array(Buffer.from(body, 'base64')))
  }
  throw new SwarmKeyEncodingError(`unknown swarm key encoding ${JSON.stringify(encoding.slice(0, 40))}; expected /base16/, /base64/ or /bin/`)
}

export function readSwarmKeyFile (path: string): Uint8Array {
  return parseSwarmKey(readFileSync(path))
}

/** Writes the key file atomically with mode 0600. */
export function writeSwarmKeyFile (path: string, psk: Uint8Array, encoding: SwarmKeyEncoding = 'base16'): void {
  const text = formatSwarmKey(psk, encoding)
  writePrivateFile(path, text)
}

/** Atomic write (temp file + rename) of a secret file, mode 0600, parent directory 0700. */
export function writePrivateFile (path: string, text: string): void {
  writeFileAtomicSync(path, text, { mkdirParent: true })
}

/**
 * The node's identity: an Ed25519 key created on first start and kept on disk (mode 0600), so the
 * peer ID survives restarts. File format: the libp2p protobuf-marshalled private key, base64, one
 * line. A file that cannot be decoded is an error, never replaced: replacing it would silently
 * change the node's peer ID and lose its place in every allow-list.
 */
import { chmodSync, readFileSync, statSync } from 'node:fs'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { InvalidArgumentError } from '../errors.js'
import { writeFileAtomicSync } from '../safe-file.js'
import { IdentityCorruptError, IdentityPermissionError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

export interface Identity {
  privateKey: PrivateKey
  peerId: string
  /** File the key was read from or written to. */
  path?: string
  /** True when this call generated the key. */
  created: boolean
}

export interface LoadIdentityOptions {
  /** On a file readable by group/others: `fix` (chmod 0600 and warn) or `refuse` (throw). Default `fix`. */
  onLoosePermissions?: 'fix' | 'refuse'
  /** Called with a human-readable warning (e.g. permissions fixed). */
  warn?(message: string): void
}

/** Text form of a private key: base64 of its protobuf encoding. */
export function exportIdentity (key: PrivateKey): string {
  return Buffer.from(privateKeyToProtobuf(key)).toString('base64') + '\n'
}

/** Parses the text form written by `exportIdentity`. */
export function importIdentity (text: string): PrivateKey {
  const b64 = text.trim()
  if (b64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new IdentityCorruptError('identity key is not base64 text')
  }
  try {
    return privateKeyFromProtobuf(Buffer.from(b64, 'base64'))
  } catch (err) {
    throw new IdentityCorruptError(`identity key cannot be decoded: ${(err as Error).message}`, { cause: err })
  }
}

function checkPermissions (path: string, options: LoadIdentityOptions): void {
  const mode = statSync(path).mode & 0o777
  if ((mode & 0o077) === 0) return
  const octal = mode.toString(8).padStart(4, '0')
  if (options.onLoosePermissions === 'refuse') {
    throw new IdentityPermissionError(`identity key ${path} has mode ${octal}; it must be 0600 (chmod 600 ${path})`)
  }
  try {
    chmodSync(path, 0o600)
  } catch (err) {
    throw new IdentityPermissionError(`identity key ${path} has mode ${octal} and chmod 0600 failed: ${(err as Error).message}`, { cause: err })
  }
  options.warn?.(`identity key ${path} had mode ${octal}; changed to 0600`)
}

/** Writes the key atomically (temp file + rename) with mode 0600. */
export function saveIdentity (path: string, key: PrivateKey): void {
  writeFileAtomicSync(path, exportIdentity(key), { mkdirParent: true })
}

/** Reads the key at `path`, or creates (and stores) a new Ed25519 key when the file does not exist. */
export async function loadOrCreateIdentity (path: string, options: LoadIdentityOptions = {}): Promise<Identity> {
  if (path === '') throw new InvalidArgumentError('identity path is empty')
  let text: string | undefined
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (text != null) {
    checkPermissions(path, options)
    let privateKey: PrivateKey
    try {
      privateKey = importIdentity(text)
    } catch (err) {
      throw new IdentityCorruptError(`identity key file ${path} is corrupt (${(err as Error).message}); move it away to create a new identity, or restore it from a backup`, { cause: err })
    }
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), path, created: false }
  }
  const privateKey = await generateKeyPair('Ed25519')
  saveIdentity(path, privateKey)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), path, created: true }
}

/**
 * The swarm state file (`config.swarm.stateFile`, mode 0600): which swarm this node created or
 * joined, the current key and epoch, the authorised peers, where to find the swarm and its
 * creator. A restarted node reads it and resumes (rejoins) without any user action.
 */
import { readFileSync } from 'node:fs'
import { writeFileAtomic } from '../safe-file.js'
import { SwarmStateFileError } from './errors.js'
import { writePrivateFile } from './key-file.js'
import type { MembershipStatement } from './membership.js'

export interface PendingKey {
  epoch: number
  /** hex */
  psk: string
}

export interface SwarmState {
  version: 1
  name: string
  role: 'creator' | 'member'
  /** Peer id of the swarm's creator (the key authority). */
  creator: string
  epoch: number
  /** The current 32-byte PSK, hex. */
  psk: string
  /** A key pushed by the creator during a rotation, not yet switched to. */
  pending?: PendingKey
  /** Peer ids allowed in the swarm (members; the creator is implied). */
  authorised: string[]
  /** Swarm addresses (with /p2p/) to dial on joining: the creator's and other members'. */
  bootstrap: string[]
  /** Public addresses (with /p2p/) of the creator's key service, reachable without the PSK. */
  keyService: string[]
  /** Creator only: the key service's listen addresses (kept so its port survives restarts). */
  keyServiceListen?: string[]
  /** True while the node is (meant to be) inside the swarm; false after `leave()`. */
  joined: boolean
  /** Creator only: outstanding invites, by sha256 of their secret. */
  invites: Array<{ hash: string, expiresAt: number }>
  /** Creator only: revision of the authorised list (the membership statement's `seq`). */
  seq?: number
  /** Creator only: peers revoked and not authorised again since; refused even with an invite. */
  revoked?: string[]
  /** Member only: the newest creator-signed membership statement held (membership.ts). */
  members?: MembershipStatement
}

function isStringArray (v: unknown): v is string[] {
  return Array.isArray(v) && v.every(x => typeof x === 'string')
}

/** Checks the shape of parsed JSON; throws `SwarmStateFileError` naming the first bad field. */
export function validateSwarmState (v: unknown, path = 'swarm state'): SwarmState {
  const bad = (field: string): never => { throw new SwarmStateFileError(`${path}: field "${field}" is missing or malformed`) }
  if (v == null || typeof v !== 'object') return bad('(root)')
  const s = v as Record<string, unknown>
  if (s.version !== 1) bad('version')
  if (typeof s.name !== 'string' || s.name === '') bad('name')
  if (s.role !== 'creator' && s.role !== 'member') bad('role')
  if (typeof s.creator !== 'string') bad('creator')
  if (typeof s.epoch !== 'number' || !Number.isInteger(s.epoch) || s.epoch < 1) bad('epoch')
  if (typeof s.psk !== 'string' || !/^[0-9a-f]{64}$/.test(s.psk)) bad('psk')
  if (!isStringArray(s.authorised)) bad('authorised')
  if (!isStringArray(s.bootstrap)) bad('bootstrap')
  if (!isStringArray(s.keyService)) bad('keyService')
  if (s.keyServiceListen != null && !isStringArray(s.keyServiceListen)) bad('keyServiceListen')
  if (typeof s.joined !== 'boolean') bad('joined')
  if (!Array.isArray(s.invites)) bad('invites')
  if (s.seq != null && !Number.isSafeInteger(s.seq)) bad('seq')
  if (s.revoked != null && !isStringArray(s.revoked)) bad('revoked')
  if (s.members != null && typeof s.members !== 'object') bad('members')
  if (s.pending != null) {
    const p = s.pending as Record<string, unknown>
    if (typeof p.epoch !== 'number' || typeof p.psk !== 'string' || !/^[0-9a-f]{64}$/.test(p.psk)) bad('pending')
  }
  return s as unknown as SwarmState
}

/** Reads the state file; `undefined` when there is none. */
export function readSwarmState (path: string): SwarmState | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SwarmStateFileError(`cannot read swarm state ${path}: ${(err as Error).message}`, { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new SwarmStateFileError(`swarm state ${path} is not JSON`, { cause: err })
  }
  return validateSwarmState(json, path)
}

/** Writes the state atomically, mode 0600 (it holds the swarm key). */
export function writeSwarmState (path: string, state: SwarmState): void {
  writePrivateFile(path, JSON.stringify(state, null, 2) + '\n')
}

/**
 * Async version of `writeSwarmState` (temp file + rename, mode 0600): the swarm manager persists
 * through this so a slow disk never blocks the event loop.
 */
export async function writeSwarmStateAsync (path: string, state: SwarmState): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(state, null, 2) + '\n', { mkdirParent: true })
}

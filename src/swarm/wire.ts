/**
 * The key-exchange protocol's messages: one request and one reply per stream, each a
 * varint-length-prefixed JSON object (at most 64 KiB), then the stream is closed.
 *
 * member -> creator: `get` (ask for the current key, optionally presenting an invite secret),
 *                    `sync` (ask for a fresh membership statement; reply `members`)
 * creator -> member: `push` (a new epoch's sealed key), `switch` (start using epoch N),
 *                    `members` (the authorised list changed), `revoked`
 * replies: `key` (sealed envelope), `ok`, `err` (code + message)
 *
 * Revision 2 of the messages (same protocol id; docs/swarm.md "Wire format"): `sync` is new, and
 * `members` and the sealed key payload carry `stmt`/`members`, the creator-signed membership
 * statement (membership.ts). Members of this version require it: a creator of revision 1 makes
 * them fall back to trusting only the creator.
 */
import { lpStream } from '@libp2p/utils'
import { SwarmProtocolError } from './errors.js'
import type { MembershipStatement } from './membership.js'
import type { SealedEnvelope } from './seal.js'
import type { AbortOptions, Stream } from '@libp2p/interface'

export const SWARM_KEY_PROTOCOL = '/dmsnet/swarm/key/1.0.0'
export const MAX_MESSAGE_BYTES = 64 * 1024

export type ErrorCode = 'unauthorized' | 'unknown-swarm' | 'bad-invite' | 'bad-request' | 'stale' | 'busy'

export type SwarmMessage =
  | { t: 'get', swarm: string, invite?: string, epoch?: number }
  | { t: 'key', env: SealedEnvelope }
  | { t: 'push', env: SealedEnvelope }
  | { t: 'switch', swarm: string, epoch: number }
  | { t: 'members', swarm: string, authorised: string[], bootstrap: string[], stmt?: MembershipStatement }
  | { t: 'sync', swarm: string, seq?: number }
  | { t: 'revoked', swarm: string }
  | { t: 'ok', epoch?: number }
  | { t: 'err', code: ErrorCode, message: string }

const TYPES = new Set(['get', 'key', 'push', 'switch', 'members', 'sync', 'revoked', 'ok', 'err'])

/** The key material inside a sealed envelope. */
export interface KeyPayload {
  swarm: string
  epoch: number
  /** hex */
  psk: string
  creator: string
  authorised: string[]
  bootstrap: string[]
  keyService: string[]
  issuedAt: number
  /** Revision 2: the creator-signed membership statement for this epoch. */
  members?: MembershipStatement
}

export function decodeMessage (bytes: Uint8Array): SwarmMessage {
  let v: unknown
  try {
    v = JSON.parse(new TextDecoder().decode(bytes))
  } catch (err) {
    throw new SwarmProtocolError('swarm message is not JSON', { cause: err })
  }
  if (v == null || typeof v !== 'object' || Array.isArray(v) || !TYPES.has((v as { t?: unknown }).t as string)) {
    throw new SwarmProtocolError('swarm message has no known type')
  }
  return v as SwarmMessage
}

export function decodePayload (bytes: Uint8Array): KeyPayload {
  let p: Record<string, unknown>
  try {
    p = JSON.parse(new TextDecoder().decode(bytes))
  } catch (err) {
    throw new SwarmProtocolError('key payload is not JSON', { cause: err })
  }
  if (p == null || typeof p !== 'object' || Array.isArray(p)) throw new SwarmProtocolError('key payload is not an object')
  const strs = (x: unknown): boolean => Array.isArray(x) && x.every(s => typeof s === 'string')
  if (typeof p.swarm !== 'string' || !(Number.isSafeInteger(p.epoch) && (p.epoch as number) >= 1) || typeof p.psk !== 'string' || !/^[0-9a-f]{64}$/.test(p.psk) ||
    typeof p.creator !== 'string' || !strs(p.authorised) || !strs(p.bootstrap) || !strs(p.keyService) ||
    (p.members != null && typeof p.members !== 'object')) {
    throw new SwarmProtocolError('key payload is malformed')
  }
  return p as unknown as KeyPayload
}

/** A framed JSON channel over one stream. */
export interface MessageChannel {
  read(options?: AbortOptions): Promise<SwarmMessage>
  write(msg: SwarmMessage, options?: AbortOptions): Promise<void>
}

export function channel (stream: Stream): MessageChannel {
  // one message per direction: a peer that sends more than one message's bytes before we read is
  // cut off (StreamBufferError) instead of filling the 4 MiB default buffer of every stream
  const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES, maxBufferSize: MAX_MESSAGE_BYTES + 16 })
  return {
    async read (options) {
      const buf = await lp.read(options)
      return decodeMessage(buf.subarray())
    },
    async write (msg, options) {
      await lp.write(new TextEncoder().encode(JSON.stringify(msg)), options)
    }
  }
}

/** Sends one message and waits for the reply (the requester's side of a stream). */
export async function request (stream: Stream, msg: SwarmMessage, options?: AbortOptions): Promise<SwarmMessage> {
  const ch = channel(stream)
  try {
    await ch.write(msg, options)
    const reply = await ch.read(options)
    await stream.close(options).catch(() => {})
    return reply
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

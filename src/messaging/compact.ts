/**
 * The compact body of a direct message on `/dmsnet/msg/2.0.0`: the envelope's fields without a
 * sender or a signature, for messages authenticated by the connection they arrive on.
 *
 * Every libp2p connection of ours is a Noise session: its handshake proves the remote's identity
 * key, and its AEAD keeps anyone else from forging, altering or replaying bytes on it. A message
 * read from such a stream therefore comes from the connection's remote peer, exactly what the
 * sender field + signature of a signed envelope prove, minus the signing and verification
 * (together most of a request's CPU). Expiry and nonce stay, so the expiry window and the replay
 * cache hold for these messages as for signed ones.
 *
 * Layout (after the Message frame's flags byte; integers big-endian):
 * `expiry u64 (ms since the epoch) || nonceLen u8 || nonce || typeLen u16 || type (UTF-8)
 *  || replyToLen u16 (0 = none) || replyTo (UTF-8) || payload (the rest)`.
 */
import { randomFillSync } from 'node:crypto'
import { InvalidMessageError, MessageTooLargeError } from './errors.js'
import { MAX_NAME_LENGTH, NONCE_LENGTH } from './envelope.js'

export interface CompactFields {
  type: string
  payload: Uint8Array
  nonce: Uint8Array
  expiry: number
  replyTo?: string
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Type strings are few and reused: keep their UTF-8 bytes (bounded). */
const typeBytes = new Map<string, Uint8Array>()
const MAX_CACHED_TYPES = 1024

function encodeName (s: string): Uint8Array {
  let b = typeBytes.get(s)
  if (b == null) {
    b = utf8.encode(s)
    if (typeBytes.size >= MAX_CACHED_TYPES) typeBytes.clear()
    typeBytes.set(s, b)
  }
  return b
}

/**
 * Encodes a Message frame's `flags` byte and the header part of a compact body (everything but
 * the payload, which the caller writes after it: the payload is copied once, into the frame).
 */
export function encodeCompactHeader (flags: number, f: Omit<CompactFields, 'payload'>): Uint8Array {
  const type = encodeName(f.type)
  const reply = f.replyTo != null ? encodeName(f.replyTo) : undefined
  if (f.nonce.byteLength < 8 || f.nonce.byteLength > 64) throw new InvalidMessageError('nonce must be 8-64 bytes')
  if (type.byteLength > 0xffff || (reply?.byteLength ?? 0) > 0xffff) throw new InvalidMessageError('type or reply-to too long')
  const out = new Uint8Array(1 + 8 + 1 + f.nonce.byteLength + 2 + type.byteLength + 2 + (reply?.byteLength ?? 0))
  const view = new DataView(out.buffer)
  out[0] = flags
  view.setUint32(1, Math.floor(f.expiry / 0x1_0000_0000))
  view.setUint32(5, f.expiry >>> 0)
  out[9] = f.nonce.byteLength
  out.set(f.nonce, 10)
  let off = 10 + f.nonce.byteLength
  view.setUint16(off, type.byteLength)
  out.set(type, off + 2)
  off += 2 + type.byteLength
  view.setUint16(off, reply?.byteLength ?? 0)
  if (reply != null) out.set(reply, off + 2)
  return out
}

function name (bytes: Uint8Array, what: string): string {
  let s: string
  try {
    s = strictUtf8.decode(bytes)
  } catch (err) {
    throw new InvalidMessageError(`${what} is not UTF-8`, { cause: err })
  }
  if (s.length === 0 || s.length > MAX_NAME_LENGTH) throw new InvalidMessageError(`bad ${what}`)
  return s
}

/**
 * Decodes a compact body, checking every length against what is there before reading it.
 * The payload is a view into `body` (no copy). Throws `InvalidMessageError` for anything
 * malformed and `MessageTooLargeError` when the payload passes `maxPayload`.
 */
export function decodeCompact (body: Uint8Array, maxPayload: number): CompactFields {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const need = (n: number, what: string): void => {
    if (body.byteLength < n) throw new InvalidMessageError(`truncated ${what}`)
  }
  need(9, 'header')
  const hi = view.getUint32(0)
  if (hi > 0x1f_ffff) throw new InvalidMessageError('bad expiry')
  const expiry = hi * 0x1_0000_0000 + view.getUint32(4)
  const nonceLen = body[8] as number
  if (nonceLen < 8 || nonceLen > 64) throw new InvalidMessageError('bad nonce')
  let off = 9
  need(off + nonceLen + 2, 'nonce')
  const nonce = body.subarray(off, off + nonceLen)
  off += nonceLen
  const typeLen = view.getUint16(off)
  off += 2
  need(off + typeLen + 2, 'type')
  const type = name(body.subarray(off, off + typeLen), 'type')
  off += typeLen
  const replyLen = view.getUint16(off)
  off += 2
  need(off + replyLen, 'reply-to')
  const replyTo = replyLen > 0 ? name(body.subarray(off, off + replyLen), 'reply-to') : undefined
  off += replyLen
  const payload = body.subarray(off)
  if (payload.byteLength > maxPayload) throw new MessageTooLargeError(`payload of ${payload.byteLength} bytes`)
  return { type, payload, nonce, expiry, ...(replyTo != null ? { replyTo } : {}) }
}

/**
 * Nonces from a pooled CSPRNG draw: one `randomFillSync` per 256 nonces instead of one call
 * each. Every nonce is a fresh view of pool bytes that are never handed out twice.
 */
export class NoncePool {
  private pool = new Uint8Array(0)
  private off = 0

  next (): Uint8Array {
    if (this.off + NONCE_LENGTH > this.pool.byteLength) {
      this.pool = randomFillSync(new Uint8Array(NONCE_LENGTH * 256))
      this.off = 0
    }
    const n = this.pool.subarray(this.off, this.off + NONCE_LENGTH)
    this.off += NONCE_LENGTH
    return n
  }
}

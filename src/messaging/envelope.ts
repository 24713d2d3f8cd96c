/**
 * The signed message envelope: its fields, its compact CBOR codec and its signature.
 *
 * On the wire an envelope is one CBOR array
 * `[version, type, payload, senderMultihash, nonce, expiryMs, replyTo|null, topic|null, signature]`.
 * The signature covers a domain-separated encoding of everything but itself
 * (`"dmsnet:msg:v1\0" || CBOR([...all fields but the signature])`), so an envelope's bytes can
 * never be replayed as a DHT record or any other signed object of ours, and the sender field is
 * part of what is signed. Decoding checks every field's type and size before anything trusts it.
 */
import { decode, encode } from 'cborg'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import type { PeerId, PrivateKey, PublicKey } from '@libp2p/interface'
import { InvalidMessageError, MessageTooLargeError } from './errors.js'
import { createSigner, verifyWith, type SignFn, type SyncSignFn } from './fast-ed25519.js'

export const ENVELOPE_VERSION = 1
const DOMAIN = new TextEncoder().encode('dmsnet:msg:v1\0')
export const NONCE_LENGTH = 16
/** Longest message type / topic / reply-to string we accept. */
export const MAX_NAME_LENGTH = 256

export interface Envelope {
  version: number
  /** Application message type, e.g. `job.bid`. Selects the handler. */
  type: string
  payload: Uint8Array
  /** Peer id (string form) of the signer. */
  sender: string
  /** Random bytes, unique per envelope of one sender: the replay cache's key. */
  nonce: Uint8Array
  /** Milliseconds since the epoch after which the envelope must be dropped. */
  expiry: number
  /** Where an answer should go (a message type or a topic), if any. */
  replyTo?: string
  /** For pubsub: the topic the envelope was published to (checked against the real topic). */
  topic?: string
  signature: Uint8Array
}

export type UnsignedEnvelope = Omit<Envelope, 'signature' | 'version' | 'sender'>

function senderBytes (sender: string | PeerId): Uint8Array {
  const id = typeof sender === 'string' ? peerIdFromString(sender) : sender
  return id.toMultihash().bytes
}

function signedPart (version: number, type: string, payload: Uint8Array, sender: Uint8Array, nonce: Uint8Array, expiry: number, replyTo: string | undefined, topic: string | undefined): Uint8Array {
  const body = encode([version, type, payload, sender, nonce, expiry, replyTo ?? null, topic ?? null])
  const out = new Uint8Array(DOMAIN.length + body.length)
  out.set(DOMAIN, 0)
  out.set(body, DOMAIN.length)
  return out
}

/**
 * Builds and signs an envelope with the sender's libp2p private key (or a `SignFn` made from it
 * with `createSigner`, which is several times faster for Ed25519).
 */
export async function signEnvelope (privateKey: PrivateKey | SignFn, sender: PeerId, fields: UnsignedEnvelope): Promise<{ envelope: Envelope, bytes: Uint8Array }> {
  const senderMh = sender.toMultihash().bytes
  const data = signedPart(ENVELOPE_VERSION, fields.type, fields.payload, senderMh, fields.nonce, fields.expiry, fields.replyTo, fields.topic)
  const signature = typeof privateKey === 'function' ? await privateKey(data) : await createSigner(privateKey)(data)
  return sealEnvelope(sender, senderMh, fields, signature)
}

/** `signEnvelope` with a synchronous signer (`createSyncSigner`): no promise, so callers keep their order. */
export function signEnvelopeSync (sign: SyncSignFn, sender: PeerId, fields: UnsignedEnvelope): { envelope: Envelope, bytes: Uint8Array } {
  const senderMh = sender.toMultihash().bytes
  const data = signedPart(ENVELOPE_VERSION, fields.type, fields.payload, senderMh, fields.nonce, fields.expiry, fields.replyTo, fields.topic)
  return sealEnvelope(sender, senderMh, fields, sign(data))
}

function sealEnvelope (sender: PeerId, senderMh: Uint8Array, fields: UnsignedEnvelope, signature: Uint8Array): { envelope: Envelope, bytes: Uint8Array } {
  const envelope: Envelope = { version: ENVELOPE_VERSION, ...fields, sender: sender.toString(), signature }
  const bytes = encode([ENVELOPE_VERSION, fields.type, fields.payload, senderMh, fields.nonce, fields.expiry, fields.replyTo ?? null, fields.topic ?? null, signature])
  return { envelope, bytes }
}

/** Re-encodes an already signed envelope (used to tamper with fields in tests and to forward). */
export function encodeEnvelope (e: Envelope): Uint8Array {
  return encode([e.version, e.type, e.payload, senderBytes(e.sender), e.nonce, e.expiry, e.replyTo ?? null, e.topic ?? null, e.signature])
}

function isString (v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max
}

export interface DecodedEnvelope {
  envelope: Envelope
  /** The signed bytes, kept so verification does not re-encode. */
  signed: Uint8Array
  senderId: PeerId
}

/**
 * Decodes envelope bytes, checking shapes and sizes. Throws `InvalidMessageError` for anything
 * malformed and `MessageTooLargeError` when the payload passes `maxPayload`.
 */
export function decodeEnvelope (bytes: Uint8Array, maxPayload: number): DecodedEnvelope {
  if (bytes.byteLength > maxPayload + 4096) throw new MessageTooLargeError(`envelope of ${bytes.byteLength} bytes`)
  let v: unknown
  try {
    v = decode(bytes, { strict: true, rejectDuplicateMapKeys: true })
  } catch (err) {
    throw new InvalidMessageError('envelope is not valid CBOR', { cause: err })
  }
  if (!Array.isArray(v) || v.length !== 9) throw new InvalidMessageError('envelope is not a 9-element array')
  const [version, type, payload, sender, nonce, expiry, replyTo, topic, signature] = v as unknown[]
  if (version !== ENVELOPE_VERSION) throw new InvalidMessageError(`unsupported envelope version ${String(version)}`)
  if (!isString(type, MAX_NAME_LENGTH)) throw new InvalidMessageError('bad type')
  if (!(payload instanceof Uint8Array)) throw new InvalidMessageError('bad payload')
  if (payload.byteLength > maxPayload) throw new MessageTooLargeError(`payload of ${payload.byteLength} bytes`)
  if (!(sender instanceof Uint8Array) || sender.byteLength > 128) throw new InvalidMessageError('bad sender')
  if (!(nonce instanceof Uint8Array) || nonce.byteLength < 8 || nonce.byteLength > 64) throw new InvalidMessageError('bad nonce')
  if (typeof expiry !== 'number' || !Number.isSafeInteger(expiry) || expiry < 0) throw new InvalidMessageError('bad expiry')
  if (replyTo !== null && !isString(replyTo, MAX_NAME_LENGTH)) throw new InvalidMessageError('bad reply-to')
  if (topic !== null && !isString(topic, MAX_NAME_LENGTH)) throw new InvalidMessageError('bad topic')
  if (!(signature instanceof Uint8Array) || signature.byteLength === 0 || signature.byteLength > 1024) throw new InvalidMessageError('bad signature field')
  let senderId: PeerId
  try {
    senderId = peerIdFromMultihash(Digest.decode(sender))
  } catch (err) {
    throw new InvalidMessageError('sender is not a peer id', { cause: err })
  }
  const envelope: Envelope = {
    version,
    type,
    payload,
    sender: senderId.toString(),
    nonce,
    expiry,
    signature,
    ...(replyTo !== null ? { replyTo: replyTo as string } : {}),
    ...(topic !== null ? { topic: topic as string } : {})
  }
  const signed = signedPart(version, type, payload, sender, nonce, expiry, envelope.replyTo, envelope.topic)
  return { envelope, signed, senderId }
}

/** Resolves a sender's public key: embedded in Ed25519/secp256k1 peer ids, else via `lookup`. */
export type PublicKeyLookup = (peer: PeerId) => Promise<PublicKey | undefined>

export async function verifyEnvelopeSignature (decoded: DecodedEnvelope, lookup?: PublicKeyLookup): Promise<boolean> {
  const key = decoded.senderId.publicKey ?? await lookup?.(decoded.senderId)
  if (key == null) return false
  return verifyWith(key, decoded.signed, decoded.envelope.signature)
}

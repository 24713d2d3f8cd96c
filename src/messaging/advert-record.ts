/**
 * Signed advertisement records for the DHT, and the DHT validator + selector for their namespace.
 *
 * Key:    `/dmsnet-adv/<base32 sha-256 of the user key>/<signer peer id>` — one record per
 *         (signer, key), so no peer can write under another's name.
 * Value:  CBOR `[1, key, signerMultihash, seq, expiresAt, deleted, data, signature]`, signed over
 *         `"dmsnet:adv:v1\0" || CBOR([...all but the signature])` by the signer's libp2p key.
 * The validator rejects a record whose signer is not the peer id in its DHT key, whose key hash
 * does not match, whose signature fails, that has expired or that claims a lifetime beyond
 * `MAX_ADVERT_LIFETIME_MS`; the selector picks the highest
 * `seq` (newest wins). Deleting is writing a signed tombstone (`deleted = true`) with a higher seq.
 * Kept free of heavy imports: `src/network/host.ts` builds every DHT with these two functions.
 */
import { createHash } from 'node:crypto'
import { decode, encode } from 'cborg'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { base32 } from 'multiformats/bases/base32'
import * as Digest from 'multiformats/hashes/digest'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { InvalidMessageError, InvalidSignatureError, ExpiredError, RecordLifetimeError } from './errors.js'
import { verifyWith } from './fast-ed25519.js'

export const ADVERT_NAMESPACE = 'dmsnet-adv'
const DOMAIN = new TextEncoder().encode('dmsnet:adv:v1\0')
export const MAX_ADVERT_DATA = 64 * 1024
export const MAX_ADVERT_KEY = 256
/**
 * Longest lifetime a record may claim (expiresAt - now). Every DHT node enforces it, so a record
 * cannot pin storage on others for longer; `messaging.advertTtlMs` must stay below it.
 */
export const MAX_ADVERT_LIFETIME_MS = 48 * 60 * 60 * 1000

export interface AdvertRecord {
  key: string
  signer: string
  seq: number
  expiresAt: number
  deleted: boolean
  data: Uint8Array
  signature: Uint8Array
}

export function keyHash (key: string): string {
  return base32.baseEncode(createHash('sha256').update(`${ADVERT_NAMESPACE}:${key}`).digest())
}

export function advertDhtKey (key: string, signer: string | PeerId): Uint8Array {
  return new TextEncoder().encode(`/${ADVERT_NAMESPACE}/${keyHash(key)}/${signer.toString()}`)
}

function signedBytes (key: string, signerMh: Uint8Array, seq: number, expiresAt: number, deleted: boolean, data: Uint8Array): Uint8Array {
  const body = encode([1, key, signerMh, seq, expiresAt, deleted, data])
  const out = new Uint8Array(DOMAIN.length + body.length)
  out.set(DOMAIN)
  out.set(body, DOMAIN.length)
  return out
}

export async function signAdvert (privateKey: PrivateKey, signer: PeerId, fields: Omit<AdvertRecord, 'signer' | 'signature'>): Promise<Uint8Array> {
  if (fields.key.length === 0 || fields.key.length > MAX_ADVERT_KEY) throw new InvalidMessageError(`advert key must be 1-${MAX_ADVERT_KEY} characters`)
  if (fields.data.byteLength > MAX_ADVERT_DATA) throw new InvalidMessageError(`advert data over ${MAX_ADVERT_DATA} bytes`)
  const mh = signer.toMultihash().bytes
  const sig = await privateKey.sign(signedBytes(fields.key, mh, fields.seq, fields.expiresAt, fields.deleted, fields.data))
  return encode([1, fields.key, mh, fields.seq, fields.expiresAt, fields.deleted, fields.data, sig])
}

/** Decodes and checks shapes (not the signature). */
export function decodeAdvert (value: Uint8Array): AdvertRecord & { signerId: PeerId, signerMh: Uint8Array } {
  if (value.byteLength > MAX_ADVERT_DATA + 2048) throw new InvalidMessageError('advert record too large')
  let v: unknown
  try {
    v = decode(value, { strict: true })
  } catch (err) {
    throw new InvalidMessageError('advert record is not valid CBOR', { cause: err })
  }
  if (!Array.isArray(v) || v.length !== 8 || v[0] !== 1) throw new InvalidMessageError('advert record has the wrong shape')
  const [, key, signerMh, seq, expiresAt, deleted, data, signature] = v as unknown[]
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_ADVERT_KEY) throw new InvalidMessageError('bad advert key')
  if (!(signerMh instanceof Uint8Array)) throw new InvalidMessageError('bad advert signer')
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new InvalidMessageError('bad advert seq')
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt)) throw new InvalidMessageError('bad advert expiry')
  if (typeof deleted !== 'boolean') throw new InvalidMessageError('bad advert deleted flag')
  if (!(data instanceof Uint8Array) || data.byteLength > MAX_ADVERT_DATA) throw new InvalidMessageError('bad advert data')
  if (!(signature instanceof Uint8Array) || signature.byteLength > 1024) throw new InvalidMessageError('bad advert signature')
  let signerId: PeerId
  try {
    signerId = peerIdFromMultihash(Digest.decode(signerMh))
  } catch (err) {
    throw new InvalidMessageError('advert signer is not a peer id', { cause: err })
  }
  return { key, signer: signerId.toString(), seq, expiresAt, deleted, data, signature, signerId, signerMh }
}

/** Full check of a record stored under `dhtKey`; throws a named error when it is not acceptable. */
export async function verifyAdvert (dhtKey: Uint8Array, value: Uint8Array, now: number = Date.now()): Promise<AdvertRecord> {
  const parts = new TextDecoder().decode(dhtKey).split('/')
  if (parts.length !== 4 || parts[1] !== ADVERT_NAMESPACE) throw new InvalidMessageError('not an advert key')
  const rec = decodeAdvert(value)
  if (parts[2] !== keyHash(rec.key)) throw new InvalidMessageError('advert key does not match its DHT key')
  let keySigner: PeerId
  try {
    keySigner = peerIdFromString(parts[3] ?? '')
  } catch (err) {
    throw new InvalidMessageError('DHT key names no peer', { cause: err })
  }
  if (!keySigner.equals(rec.signerId)) throw new InvalidSignatureError('advert signed by a peer other than the one in its key')
  const pub = rec.signerId.publicKey
  if (pub == null) throw new InvalidSignatureError('advert signer key is not embedded in its peer id')
  const ok = await verifyWith(pub, signedBytes(rec.key, rec.signerMh, rec.seq, rec.expiresAt, rec.deleted, rec.data), rec.signature)
  if (!ok) throw new InvalidSignatureError('advert signature does not verify')
  if (rec.expiresAt < now) throw new ExpiredError('advert expired')
  // 60 s of slack for clock skew between signer and store
  if (rec.expiresAt > now + MAX_ADVERT_LIFETIME_MS + 60_000) throw new RecordLifetimeError(`advert expires ${rec.expiresAt - now} ms from now, past the ${MAX_ADVERT_LIFETIME_MS} ms maximum`)
  return { key: rec.key, signer: rec.signer, seq: rec.seq, expiresAt: rec.expiresAt, deleted: rec.deleted, data: rec.data, signature: rec.signature }
}

/** kad-dht validator for the `dmsnet-adv` namespace. */
export async function advertValidator (key: Uint8Array, value: Uint8Array): Promise<void> {
  await verifyAdvert(key, value)
}

/** kad-dht selector: the record with the highest seq wins; undecodable ones never win. */
export function advertSelector (_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0
  let bestSeq = -1
  records.forEach((r, i) => {
    try {
      const seq = decodeAdvert(r).seq
      if (seq > bestSeq) {
        bestSeq = seq
        best = i
      }
    } catch { /* never selected */ }
  })
  return best
}

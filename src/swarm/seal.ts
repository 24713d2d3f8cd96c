/**
 * Sealing a swarm key to one peer: only the holder of the recipient's identity key can open it,
 * and the recipient can check who sealed it.
 *
 * The recipient's Ed25519 identity key is converted to X25519; the sender uses a fresh X25519
 * key per envelope (so a later leak of the sender's identity key does not open old envelopes),
 * derives a ChaCha20-Poly1305 key with HKDF-SHA256 over the shared secret, both public keys and
 * the recipient's peer id, and signs the whole envelope with its Ed25519 identity key.
 */
import { randomBytes } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { SealError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

const INFO = new TextEncoder().encode('dmsnet/swarm/seal/v1')
const SIG_DOMAIN = new TextEncoder().encode('dmsnet:swarm:seal:v1:')

/** The envelope as sent on the wire (JSON, binary fields base64). */
export interface SealedEnvelope {
  v: 1
  /** Peer id of the sealer (whose signature `sig` is). */
  from: string
  /** Peer id of the only peer that can open it. */
  to: string
  /** Sender's ephemeral X25519 public key. */
  epk: string
  nonce: string
  ct: string
  sig: string
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
const unb64 = (s: unknown, what: string): Uint8Array => {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new SealError(`envelope field ${what} is not base64`)
  return new Uint8Array(Buffer.from(s, 'base64'))
}

function edPublicKeyOf (peerId: string): Uint8Array {
  let id
  try {
    id = peerIdFromString(peerId)
  } catch (err) {
    throw new SealError(`not a peer id: ${peerId}`, { cause: err })
  }
  if (id.type !== 'Ed25519' || id.publicKey == null) throw new SealError(`peer ${peerId} has no Ed25519 key (only Ed25519 identities can receive sealed keys)`)
  return id.publicKey.raw
}

function edSeedOf (key: PrivateKey): Uint8Array {
  if (key.type !== 'Ed25519') throw new SealError('only Ed25519 identities can open sealed keys')
  return key.raw.subarray(0, 32)
}

function signedBytes (env: Omit<SealedEnvelope, 'sig'>): Uint8Array {
  return new Uint8Array(Buffer.concat([SIG_DOMAIN, Buffer.from(JSON.stringify([env.v, env.from, env.to, env.epk, env.nonce, env.ct]))]))
}

function deriveKey (shared: Uint8Array, epk: Uint8Array, rpk: Uint8Array, to: string): Uint8Array {
  const salt = sha256(new Uint8Array(Buffer.concat([epk, rpk, Buffer.from(to)])))
  return hkdf(sha256, shared, salt, INFO, 32)
}

/** Seals `plaintext` for peer `to`, signed by `sender`. */
export async function sealTo (sender: PrivateKey, senderPeerId: string, to: string, plaintext: Uint8Array): Promise<SealedEnvelope> {
  const rpk = ed25519.utils.toMontgomery(edPublicKeyOf(to))
  const esk = x25519.utils.randomSecretKey()
  const epk = x25519.getPublicKey(esk)
  const shared = x25519.getSharedSecret(esk, rpk)
  const key = deriveKey(shared, epk, rpk, to)
  const nonce = new Uint8Array(randomBytes(12))
  const aad = new TextEncoder().encode(`${senderPeerId}>${to}`)
  const ct = chacha20poly1305(key, nonce, aad).encrypt(plaintext)
  const env: Omit<SealedEnvelope, 'sig'> = { v: 1, from: senderPeerId, to, epk: b64(epk), nonce: b64(nonce), ct: b64(ct) }
  const sig = await sender.sign(signedBytes(env))
  return { ...env, sig: b64(sig) }
}

/**
 * Verifies and opens an envelope addressed to `self`. `expectedFrom`, when given, is the only
 * acceptable sealer (the swarm's creator).
 */
export async function openSealed (self: PrivateKey, selfPeerId: string, envelope: unknown, expectedFrom?: string): Promise<{ from: string, plaintext: Uint8Array }> {
  if (envelope == null || typeof envelope !== 'object') throw new SealError('envelope is not an object')
  const env = envelope as Record<string, unknown>
  if (env.v !== 1) throw new SealError('unknown envelope version')
  if (typeof env.from !== 'string' || typeof env.to !== 'string') throw new SealError('envelope lacks from/to')
  if (env.to !== selfPeerId) throw new SealError('envelope is addressed to another peer')
  if (expectedFrom != null && env.from !== expectedFrom) throw new SealError(`envelope sealed by ${env.from}, expected ${expectedFrom}`)
  const epk = unb64(env.epk, 'epk')
  const nonce = unb64(env.nonce, 'nonce')
  const ct = unb64(env.ct, 'ct')
  const sig = unb64(env.sig, 'sig')
  if (epk.byteLength !== 32 || nonce.byteLength !== 12 || sig.byteLength !== 64) throw new SealError('envelope key, nonce or signature has the wrong length')
  const senderKey = publicKeyFromRaw(edPublicKeyOf(env.from))
  const ok = await senderKey.verify(signedBytes({ v: 1, from: env.from, to: env.to, epk: env.epk as string, nonce: env.nonce as string, ct: env.ct as string }), sig)
  if (!ok) throw new SealError('envelope signature does not verify')
  const rsk = ed25519.utils.toMontgomerySecret(edSeedOf(self))
  const rpk = x25519.getPublicKey(rsk)
  let plaintext: Uint8Array
  try {
    const shared = x25519.getSharedSecret(rsk, epk)
    const key = deriveKey(shared, epk, rpk, selfPeerId)
    plaintext = chacha20poly1305(key, nonce, new TextEncoder().encode(`${env.from}>${selfPeerId}`)).decrypt(ct)
  } catch (err) {
    throw new SealError('envelope does not decrypt', { cause: err })
  }
  return { from: env.from, plaintext }
}

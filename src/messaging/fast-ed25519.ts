/**
 * Ed25519 signing and verification with cached Node `KeyObject`s.
 *
 * `@libp2p/crypto` rebuilds a KeyObject from JWK on every `sign`/`verify` call (and re-derives
 * the public key when signing). Messaging signs and verifies every envelope, so we keep one
 * KeyObject for our own key and a bounded cache of senders' public keys. On the shared 2-vCPU CI
 * machine signing dropped from ~180 to ~80 us in one measurement; verification (~230 us there,
 * OpenSSL's own cost dominates) did not change measurably. Other key types fall back to the
 * libp2p key's own methods.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

const b64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url')

export type SignFn = (data: Uint8Array) => Promise<Uint8Array>
export type SyncSignFn = (data: Uint8Array) => Uint8Array

/** A synchronous signer for an Ed25519 key (node:crypto is synchronous); undefined for other key types. */
export function createSyncSigner (key: PrivateKey): SyncSignFn | undefined {
  if (key.type !== 'Ed25519' || key.raw.byteLength !== 64) return undefined
  const obj = createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(key.raw.subarray(0, 32)), x: b64url(key.raw.subarray(32)) }
  })
  return (data) => new Uint8Array(nodeSign(null, data, obj))
}

export function createSigner (key: PrivateKey): SignFn {
  const sync = createSyncSigner(key)
  if (sync != null) return async (data) => sync(data)
  return async (data) => key.sign(data)
}

const MAX_CACHED = 4096
const publicKeys = new Map<string, KeyObject>()

/** Verifies `sig` over `data` with `key`; never throws (a malformed key or signature is `false`). */
export async function verifyWith (key: PublicKey, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
  try {
    if (key.type === 'Ed25519' && key.raw.byteLength === 32) {
      const id = b64url(key.raw)
      let obj = publicKeys.get(id)
      if (obj == null) {
        obj = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: id } })
        if (publicKeys.size >= MAX_CACHED) publicKeys.delete(publicKeys.keys().next().value as string)
        publicKeys.set(id, obj)
      }
      return nodeVerify(null, data, obj, sig)
    }
    return await key.verify(data, sig)
  } catch {
    return false
  }
}

/**
 * Envelope signatures made by the native path (node:crypto Ed25519 with cached KeyObjects, see
 * src/messaging/fast-ed25519.ts) are the same bytes as the pure JavaScript path's (@noble/curves,
 * and the libp2p key's own `sign`), and each verifies what the other signed: the signature input
 * and the wire stayed as they were.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ed25519 } from '@noble/curves/ed25519.js'
import { decodeEnvelope, signEnvelope, verifyEnvelopeSignature } from '../../src/messaging/envelope.js'
import { createSigner, verifyWith } from '../../src/messaging/fast-ed25519.js'

test('native and pure-JS Ed25519 envelope signatures are identical and verify both ways', async () => {
  for (let i = 0; i < 20; i++) {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key)
    const seed = key.raw.subarray(0, 32)
    const fields = { type: `t${i}`, payload: new Uint8Array(randomBytes(i * 37)), nonce: new Uint8Array(randomBytes(16)), expiry: Date.now() + 60_000, ...(i % 2 === 0 ? { replyTo: 'r' } : { topic: 'x' }) }

    // native signer (the default path)
    const native = await signEnvelope(key, id, fields)
    // pure JavaScript signer over the same signature input
    const js = await signEnvelope(async (data) => ed25519.sign(data, seed), id, fields)
    // the libp2p key's own sign method (what envelopes were signed with before the native signer)
    const libp2p = await signEnvelope(async (data) => await key.sign(data), id, fields)
    assert.deepEqual(native.bytes, js.bytes, 'Ed25519 is deterministic: same input, same key, same bytes')
    assert.deepEqual(native.bytes, libp2p.bytes)

    const d = decodeEnvelope(native.bytes, 1 << 20)
    // native verify (verifyEnvelopeSignature) and pure JS verify accept it
    assert.equal(await verifyEnvelopeSignature(d), true)
    assert.equal(ed25519.verify(d.envelope.signature, d.signed, key.publicKey.raw), true)
    assert.equal(await key.publicKey.verify(d.signed, d.envelope.signature), true)

    // a one-bit change is refused by both verifiers (the positive control is just above)
    const bad = new Uint8Array(d.envelope.signature)
    bad[i % 64]! ^= 1
    assert.equal(await verifyWith(key.publicKey, d.signed, bad), false)
    assert.equal(ed25519.verify(bad, d.signed, key.publicKey.raw), false)
  }
  // the cached signer gives what noble gives for arbitrary data, too
  const key = await generateKeyPair('Ed25519')
  const data = new Uint8Array(randomBytes(1000))
  assert.deepEqual(await createSigner(key)(data), ed25519.sign(data, key.raw.subarray(0, 32)))
})

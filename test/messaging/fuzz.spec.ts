/**
 * Property-based fuzzing (fast-check, bounded in runs and time) of the messaging decoders that
 * read peer-controlled bytes: the envelope decoder, the compact (2.0.0) message decoder, the
 * direct-message frame parser and NACK decoder, and the DHT advert record decoder. Every input either decodes or fails with the named
 * error the decoder documents: never another exception, never a hang.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { decodeAdvert, signAdvert } from '../../src/messaging/advert-record.js'
import { decodeCompact, encodeCompactHeader } from '../../src/messaging/compact.js'
import { decodeEnvelope, signEnvelope } from '../../src/messaging/envelope.js'
import { decodeNack, encodeFrame, FrameDecoder, FrameKind, ShortFrameError } from '../../src/messaging/framing.js'

/** Bounded: a fixed number of runs and a wall-clock cap per property. */
const RUNS = { numRuns: 3000, interruptAfterTimeLimit: 15_000 }

function expectNamed (fn: () => unknown, names: string[]): void {
  try {
    fn()
  } catch (err) {
    assert.ok(names.includes((err as Error).name), `unexpected ${(err as Error).name}: ${(err as Error).message}`)
  }
}

/** A valid encoding with some of its bytes overwritten, cut short or extended. */
function mutated (valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat({ max: valid.length }), fc.uint8Array({ maxLength: 16 }))
    .map(([flips, cut, tail]) => {
      const b = new Uint8Array([...valid.subarray(0, Math.max(cut, valid.length - 4)), ...tail])
      for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v
      return b
    })
}

describe('messaging: fuzzed decoders', { timeout: 120_000 }, () => {
  it('the envelope decoder accepts or refuses with InvalidMessageError / MessageTooLargeError', async () => {
    const key = await generateKeyPair('Ed25519')
    const { bytes } = await signEnvelope(key, peerIdFromPrivateKey(key), { type: 'job.bid', payload: randomBytes(40), nonce: randomBytes(16), expiry: Date.now() + 60_000, topic: 't', replyTo: 'r' })
    const names = ['InvalidMessageError', 'MessageTooLargeError']
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => { expectNamed(() => decodeEnvelope(b, 1024), names) }), RUNS)
    fc.assert(fc.property(mutated(bytes), (b) => { expectNamed(() => decodeEnvelope(b, 1024), names) }), RUNS)
  })

  it('the frame parser never throws but MessageTooLargeError, whatever the chunking; NACKs always decode', () => {
    const valid = new Uint8Array([...encodeFrame(FrameKind.Message, 7, Uint8Array.of(1), randomBytes(30)), ...encodeFrame(FrameKind.Nack, 8, new TextEncoder().encode('flood\nx'))])
    const chunks = fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated(valid)), { maxLength: 8 })
    fc.assert(fc.property(chunks, (parts) => {
      const d = new FrameDecoder(256)
      for (const p of parts) {
        let frames
        try {
          frames = d.push(p)
        } catch (err) {
          assert.equal((err as Error).name, 'MessageTooLargeError')
          return // framing lost: the stream is reset
        }
        for (const f of frames) {
          if (f instanceof ShortFrameError) continue
          assert.ok(f.rest.byteLength <= 256)
          if (f.kind === FrameKind.Nack) assert.equal(typeof decodeNack(f.rest).reason, 'string')
        }
      }
    }), RUNS)
  })

  it('the advert record decoder accepts or refuses with InvalidMessageError', async () => {
    const key = await generateKeyPair('Ed25519')
    const valid = await signAdvert(key, peerIdFromPrivateKey(key), { key: 'k', seq: 1, expiresAt: Date.now() + 1000, deleted: false, data: randomBytes(20) })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => { expectNamed(() => decodeAdvert(b), ['InvalidMessageError']) }), RUNS)
    fc.assert(fc.property(mutated(valid), (b) => { expectNamed(() => decodeAdvert(b), ['InvalidMessageError']) }), RUNS)
  })

  it('the compact decoder round-trips what it encodes, and accepts or refuses anything else with InvalidMessageError / MessageTooLargeError', () => {
    const name = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' })
    const fields = fc.record({
      type: name,
      replyTo: fc.option(name, { nil: undefined }),
      nonce: fc.uint8Array({ minLength: 8, maxLength: 64 }),
      expiry: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      payload: fc.uint8Array({ maxLength: 200 })
    })
    fc.assert(fc.property(fields, (f) => {
      const header = encodeCompactHeader(0, { type: f.type, nonce: f.nonce, expiry: f.expiry, ...(f.replyTo != null ? { replyTo: f.replyTo } : {}) })
      const d = decodeCompact(new Uint8Array([...header.subarray(1), ...f.payload]), 1024)
      assert.deepEqual({ ...d, nonce: Uint8Array.from(d.nonce), payload: Uint8Array.from(d.payload) }, { type: f.type, nonce: f.nonce, expiry: f.expiry, payload: f.payload, ...(f.replyTo != null ? { replyTo: f.replyTo } : {}) })
    }), { numRuns: 1000 })
    const valid = encodeCompactHeader(0, { type: 'job.bid', replyTo: 'r', nonce: randomBytes(16), expiry: Date.now() + 60_000 }).subarray(1)
    const names = ['InvalidMessageError', 'MessageTooLargeError']
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => { expectNamed(() => decodeCompact(b, 64), names) }), RUNS)
    fc.assert(fc.property(mutated(new Uint8Array([...valid, ...randomBytes(40)])), (b) => { expectNamed(() => decodeCompact(b, 64), names) }), RUNS)
    // every cut of a valid body short of its header is refused by name
    for (let cut = 0; cut < valid.byteLength; cut++) assert.throws(() => decodeCompact(valid.subarray(0, cut), 64), { name: 'InvalidMessageError' })
  })
})

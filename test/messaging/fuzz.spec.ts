/**
 * Property-based fuzzing (fast-check, bounded in runs and time) of the messaging decoders that
 * read peer-controlled bytes: the envelope decoder, the direct-message frame parser and NACK
 * decoder, and the DHT advert record decoder. Every input either decodes or fails with the named
 * error the decoder documents: never another exception, never a hang.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { decodeAdvert, signAdvert } from '../../src/messaging/advert-record.js'
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
})

/**
 * Unit tests of the pure parts: envelope codec and signature, replay cache, framing bounds,
 * handler registry, advertisement records (validator and selector).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encode } from 'cborg'
import { decodeEnvelope, encodeEnvelope, signEnvelope, verifyEnvelopeSignature } from '../../src/messaging/envelope.js'
import { ReplayCache } from '../../src/messaging/replay-cache.js'
import { FrameDecoder, FrameKind, ShortFrameError, encodeFrame } from '../../src/messaging/framing.js'
import { HandlerRegistry } from '../../src/messaging/registry.js'
import { Registry } from 'prom-client'
import { MessagingMetrics } from '../../src/messaging/metrics.js'
import { advertDhtKey, advertSelector, advertValidator, signAdvert } from '../../src/messaging/advert-record.js'

async function identity (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, id: ReturnType<typeof peerIdFromPrivateKey> }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key) }
}

describe('messaging: envelope', () => {
  it('round-trips and verifies; any tampered field fails verification', async () => {
    const a = await identity()
    const { envelope, bytes } = await signEnvelope(a.key, a.id, { type: 't', payload: Uint8Array.of(1, 2, 3), nonce: randomBytes(16), expiry: Date.now() + 1000, replyTo: 'r' })
    const d = decodeEnvelope(bytes, 1024)
    assert.equal(d.envelope.sender, a.id.toString())
    assert.deepEqual(d.envelope.payload, Uint8Array.of(1, 2, 3))
    assert.equal(d.envelope.replyTo, 'r')
    assert.equal(await verifyEnvelopeSignature(d), true)

    const tampered = [
      { ...envelope, payload: Uint8Array.of(1, 2, 4) },
      { ...envelope, type: 'u' },
      { ...envelope, expiry: envelope.expiry + 1 },
      { ...envelope, replyTo: 'x' },
      { ...envelope, topic: 'y' },
      { ...envelope, sender: (await identity()).id.toString() }
    ]
    for (const t of tampered) {
      assert.equal(await verifyEnvelopeSignature(decodeEnvelope(encodeEnvelope(t), 1024)), false)
    }
  })

  it('rejects malformed and oversized envelopes with named errors', async () => {
    const a = await identity()
    const { bytes } = await signEnvelope(a.key, a.id, { type: 't', payload: new Uint8Array(2000), nonce: randomBytes(16), expiry: Date.now() + 1000 })
    assert.throws(() => decodeEnvelope(bytes, 1000), { name: 'MessageTooLargeError' })
    for (const bad of [Uint8Array.of(0xff, 0x00), encode([1, 2, 3]), encode({ a: 1 }), encode([2, 't', new Uint8Array(0), new Uint8Array(0), new Uint8Array(16), 1, null, null, Uint8Array.of(1)]), bytes.subarray(0, bytes.length - 3)]) {
      assert.throws(() => decodeEnvelope(bad, 4096), { name: 'InvalidMessageError' })
    }
  })
})

describe('messaging: replay cache', () => {
  it('refuses a repeated nonce and keeps distinct senders apart', () => {
    const c = new ReplayCache()
    const n = randomBytes(16)
    assert.equal(c.check('a', n, 2000, 1000), 'fresh')
    assert.equal(c.check('a', n, 2000, 1000), 'replayed')
    assert.equal(c.check('b', n, 2000, 1000), 'fresh')
  })

  it('stays bounded and never re-opens a replay window for forgotten nonces', () => {
    const c = new ReplayCache({ maxEntriesPerSender: 100 })
    const nonces = Array.from({ length: 300 }, () => randomBytes(16))
    nonces.forEach((n, i) => { assert.equal(c.check('a', n, 10_000 + i, 1000), 'fresh') })
    assert.ok(c.size <= 100)
    // the first nonces were forgotten: replaying them is still refused (floor)
    assert.equal(c.check('a', nonces[0]!, 10_000, 1000), 'replayed')
    // a fresh message expiring later than the floor is fine
    assert.equal(c.check('a', randomBytes(16), 20_000, 1000), 'fresh')
    // the floor is a's alone: another sender's message expiring below it is fresh
    assert.equal(c.check('b', randomBytes(16), 9_000, 1000), 'fresh')
  })

  it('bounds the number of senders without evicting live ones; a flood of keys cannot lock others out later', () => {
    const c = new ReplayCache({ maxSenders: 10 })
    // ten senders with live entries fill it; an eleventh new sender is refused, not let in by eviction
    for (let i = 0; i < 10; i++) assert.equal(c.check(`flood${i}`, randomBytes(16), 150_000, 1000), 'fresh')
    assert.equal(c.check('honest', randomBytes(16), 60_000, 1000), 'full')
    assert.ok(c.size <= 10)
    // once the flood's entries expired, the honest sender gets in, and nothing it sends is
    // refused because of what others did (no shared floor)
    assert.equal(c.check('honest', randomBytes(16), 200_000, 151_000), 'fresh')
    assert.equal(c.check('honest', randomBytes(16), 152_000, 151_000), 'fresh')
  })
})

describe('messaging: framing', () => {
  it('decodes frames split at any byte boundary', () => {
    const frames = [encodeFrame(FrameKind.Message, 7, Uint8Array.of(1), Uint8Array.of(9, 9)), encodeFrame(FrameKind.Ack, 8)]
    const all = new Uint8Array([...frames[0]!, ...frames[1]!])
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder(1024)
      const out = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))]
      assert.equal(out.length, 2)
      const [f1, f2] = out as [{ kind: number, id: number, rest: Uint8Array }, { kind: number, id: number, rest: Uint8Array }]
      assert.deepEqual([f1.kind, f1.id, [...f1.rest]], [FrameKind.Message, 7, [1, 9, 9]])
      assert.deepEqual([f2.kind, f2.id, f2.rest.length], [FrameKind.Ack, 8, 0])
    }
  })

  it('refuses an oversized length prefix before buffering it, and skips short frames', () => {
    const d = new FrameDecoder(1024)
    assert.throws(() => d.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff)), { name: 'MessageTooLargeError' })
    const d2 = new FrameDecoder(1024)
    const out = d2.push(Uint8Array.of(0, 0, 0, 2, 1, 1, ...encodeFrame(FrameKind.Ack, 3)))
    assert.ok(out[0] instanceof ShortFrameError)
    assert.equal((out[1] as { id: number }).id, 3)
  })
})

describe('messaging: handler registry', () => {
  it('one handler per type; a second registration is a named error; unregister frees the type', () => {
    const r = new HandlerRegistry()
    r.register('x', () => {})
    assert.throws(() => { r.register('x', () => {}) }, { name: 'DuplicateHandlerError' })
    assert.throws(() => { r.register('', () => {}) }, { name: 'InvalidArgumentError' })
    assert.equal(r.unregister('x'), true)
    assert.equal(r.unregister('x'), false)
    r.register('x', () => {})
    assert.deepEqual(r.types(), ['x'])
  })
})

describe('messaging: advertisement records', () => {
  it('accepts the signer\'s own record, rejects forgeries, picks the newest', async () => {
    const a = await identity()
    const m = await identity()
    const fields = { key: 'svc', seq: 5, expiresAt: Date.now() + 60_000, deleted: false, data: Uint8Array.of(1) }
    const good = await signAdvert(a.key, a.id, fields)
    await advertValidator(advertDhtKey('svc', a.id), good)
    // mallory signs a record and stores it under alice's slot
    const forged = await signAdvert(m.key, m.id, fields)
    await assert.rejects(advertValidator(advertDhtKey('svc', a.id), forged), { name: 'InvalidSignatureError' })
    // alice's record copied under another key
    await assert.rejects(advertValidator(advertDhtKey('other', a.id), good), { name: 'InvalidMessageError' })
    // tampered data
    const bad = Uint8Array.from(good)
    bad[bad.length - 70] = (bad[bad.length - 70] as number) ^ 1
    await assert.rejects(advertValidator(advertDhtKey('svc', a.id), bad), { name: 'InvalidSignatureError' })
    // expired
    const old = await signAdvert(a.key, a.id, { ...fields, expiresAt: Date.now() - 1 })
    await assert.rejects(advertValidator(advertDhtKey('svc', a.id), old), { name: 'ExpiredError' })
    const newer = await signAdvert(a.key, a.id, { ...fields, seq: 6 })
    assert.equal(advertSelector(advertDhtKey('svc', a.id), [good, Uint8Array.of(1), newer]), 2)
  })
})

describe('messaging: drop logging', () => {
  it('counts every drop but logs a (peer, reason) at most once per interval', async () => {
    const logged: object[] = []
    const noop = (): void => {}
    const logger = { debug: noop, info: noop, error: noop, warn: (o: object) => { logged.push(o) } }
    const registry = new Registry()
    const m = new MessagingMetrics(registry, logger, 60_000)
    for (let i = 0; i < 50; i++) m.onDrop('peerA', 'bad-signature')
    m.onDrop('peerA', 'expired')
    m.onDrop('peerB', 'bad-signature')
    assert.equal(m.stats.dropped['bad-signature'], 51)
    assert.equal(logged.length, 3)
    const metric = await registry.getSingleMetric('dmsnet_messages_dropped_total')!.get()
    assert.equal(metric.values.find(v => v.labels.reason === 'bad-signature')?.value, 51)
    // a second instance on the same registry reuses the counter instead of throwing
    assert.doesNotThrow(() => new MessagingMetrics(registry, logger, 60_000))
  })
})

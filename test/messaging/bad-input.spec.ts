/**
 * Hostile input on a real messaging stream: an attacker node dials the victim's messaging
 * protocol and writes raw frames (bad signature, wrong sender, expired, replayed nonce,
 * oversized, undecodable). Each is dropped and counted while an honest peer's traffic goes on.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodeEnvelope, signEnvelope } from '../../src/messaging/envelope.js'
import { FrameKind, encodeFrame } from '../../src/messaging/framing.js'
import { RawMessageClient } from './hostile-helpers.js'
import { startMesh, stopAll, dropCount, enc, type MsgNode } from './helpers.js'
import { waitFor } from '../network/helpers.js'

const MAX = 64 * 1024

describe('messaging: bad input on a real stream', () => {
  let nodes: MsgNode[] = []
  let victim: MsgNode, attacker: MsgNode, honest: MsgNode
  const delivered: string[] = []

  before(async () => {
    nodes = await startMesh(3, { maxMessageSize: MAX })
    ;[victim, attacker, honest] = nodes as [MsgNode, MsgNode, MsgNode]
    victim.messaging.registerHandler('t.in', (m) => { delivered.push(`${m.from === honest.id ? 'honest' : 'attacker'}:${new TextDecoder().decode(m.payload)}`) })
  })
  after(async () => { await stopAll(nodes) })

  async function envelope (opts: { expiry?: number, payload?: Uint8Array, key?: Awaited<ReturnType<typeof generateKeyPair>> } = {}): Promise<Uint8Array> {
    const key = opts.key ?? attacker.privateKey
    return (await signEnvelope(key, peerIdFromPrivateKey(key), { type: 't.in', payload: opts.payload ?? enc('x'), nonce: randomBytes(16), expiry: opts.expiry ?? Date.now() + 30_000 })).bytes
  }

  async function raw (): Promise<RawMessageClient> {
    return new RawMessageClient(await attacker.node.net.dialProtocol(victim.id, victim.messaging.config.protocol))
  }

  it('drops and counts each kind of bad message; the honest peer is unaffected', async () => {
    // honest traffic runs through the whole attack
    let honestSent = 0
    let stop = false
    const honestLoop = (async () => {
      while (!stop && honestSent < 2000) {
        await honest.messaging.sendMessage(victim.id, 't.in', enc(String(honestSent)))
        honestSent++
      }
    })()

    const c = await raw()
    // a good message first: proves the raw client speaks the protocol
    const good = await envelope({ payload: enc('ok') })
    c.stream.send(encodeFrame(FrameKind.Message, 1, Uint8Array.of(0), good))
    assert.deepEqual(await c.answer(1), { kind: FrameKind.Ack })

    // bad signature: flip one bit of the signature
    const { envelope: e } = await signEnvelope(attacker.privateKey, peerIdFromPrivateKey(attacker.privateKey), { type: 't.in', payload: enc('sig'), nonce: randomBytes(16), expiry: Date.now() + 30_000 })
    e.signature = Uint8Array.from(e.signature)
    e.signature[0] = (e.signature[0] as number) ^ 1
    c.stream.send(encodeFrame(FrameKind.Message, 2, Uint8Array.of(0), encodeEnvelope(e)))
    assert.deepEqual(await c.answer(2), { kind: FrameKind.Nack, reason: 'bad-signature' })

    // wrong sender: validly signed by someone else, sent by the attacker
    const other = await generateKeyPair('Ed25519')
    c.stream.send(encodeFrame(FrameKind.Message, 3, Uint8Array.of(0), await envelope({ key: other })))
    assert.deepEqual(await c.answer(3), { kind: FrameKind.Nack, reason: 'wrong-sender' })

    // expired
    c.stream.send(encodeFrame(FrameKind.Message, 4, Uint8Array.of(0), await envelope({ expiry: Date.now() - 1000 })))
    assert.deepEqual(await c.answer(4), { kind: FrameKind.Nack, reason: 'expired' })

    // replayed: the good message again
    c.stream.send(encodeFrame(FrameKind.Message, 5, Uint8Array.of(0), good))
    assert.deepEqual(await c.answer(5), { kind: FrameKind.Nack, reason: 'replayed' })

    // undecodable body, and a frame too short for its header
    c.stream.send(encodeFrame(FrameKind.Message, 6, Uint8Array.of(0), Uint8Array.of(0xff, 0xfe, 0x00, 0x13)))
    assert.deepEqual(await c.answer(6), { kind: FrameKind.Nack, reason: 'undecodable' })
    c.stream.send(Uint8Array.of(0, 0, 0, 2, 1, 1))

    // oversized payload inside a frame that still fits: refused, stream kept
    c.stream.send(encodeFrame(FrameKind.Message, 7, Uint8Array.of(0), await envelope({ payload: new Uint8Array(MAX + 100) })))
    assert.deepEqual(await c.answer(7), { kind: FrameKind.Nack, reason: 'oversized' })

    // the stream still works after all that
    c.stream.send(encodeFrame(FrameKind.Message, 8, Uint8Array.of(0), await envelope({ payload: enc('still') })))
    assert.deepEqual(await c.answer(8), { kind: FrameKind.Ack })

    // oversized length prefix: the framing is lost, the victim resets this stream only
    c.stream.send(Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 1, 0, 0, 0, 9))
    await waitFor(() => c.closed, 10_000, 'stream reset')

    // the attacker can open a new stream and behave
    const c2 = await raw()
    c2.stream.send(encodeFrame(FrameKind.Message, 1, Uint8Array.of(0), await envelope({ payload: enc('again') })))
    assert.deepEqual(await c2.answer(1), { kind: FrameKind.Ack })

    stop = true
    await honestLoop
    assert.ok(honestSent > 0)
    const honestGot = delivered.filter(d => d.startsWith('honest:'))
    assert.equal(honestGot.length, honestSent)
    assert.deepEqual(honestGot, Array.from({ length: honestSent }, (_, i) => `honest:${i}`))
    assert.deepEqual(delivered.filter(d => d.startsWith('attacker:')), ['attacker:ok', 'attacker:still', 'attacker:again'])

    for (const [reason, n] of [['bad-signature', 1], ['wrong-sender', 1], ['expired', 1], ['replayed', 1], ['undecodable', 2], ['oversized', 2]] as const) {
      assert.equal(await dropCount(victim, reason), n, reason)
      assert.equal(victim.messaging.stats().dropped[reason], n, reason)
    }
  })

  it('a peer that sends without reading our acks gets its stream cut and counted, not buffered without bound', async () => {
    const before = await dropCount(victim, 'flood')
    const c = await raw()
    c.stream.pause() // never read: the victim's acks pile up behind the muxer's window
    // frames of an unexpected kind cost the attacker 9 bytes and need no signature; each gets a Nack
    const junk = encodeFrame(FrameKind.Ack, 1)
    const batch = new Uint8Array(junk.byteLength * 4096)
    for (let i = 0; i < 4096; i++) batch.set(junk, i * junk.byteLength)
    for (let i = 0; i < 200 && c.stream.writeStatus === 'writable' && !c.closed; i++) {
      // an attacker does not wait long for drain: it writes again as soon as 200 ms have passed
      if (!c.stream.send(batch)) await c.stream.onDrain({ signal: AbortSignal.timeout(200) }).catch(() => {})
    }
    await waitFor(async () => await dropCount(victim, 'flood') > before, 20_000, 'flood drop counted')
    await waitFor(() => c.closed || c.stream.status !== 'open', 20_000, 'the attacker\'s stream cut')
    // the victim still serves an honest peer
    await honest.messaging.sendMessage(victim.id, 't.in', enc('after-ack-flood'), { signal: AbortSignal.timeout(10_000) })
    assert.ok(delivered.includes('honest:after-ack-flood'))
  })

  it('a peer exceeding maxInFlight (over all its streams) is refused with "flood", not buffered', async () => {
    const slow = nodes[0]!
    const floodBefore = await dropCount(slow, 'flood')
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    let started = 0
    slow.messaging.registerHandler('t.slow', async () => { started++; await gate })
    const c1 = await raw()
    const c2 = await raw()
    const limit = slow.messaging.config.maxInFlight
    const env = async (): Promise<Uint8Array> => (await signEnvelope(attacker.privateKey, peerIdFromPrivateKey(attacker.privateKey), { type: 't.slow', payload: enc('s'), nonce: randomBytes(16), expiry: Date.now() + 30_000 })).bytes
    for (let i = 1; i <= limit; i++) c1.stream.send(encodeFrame(FrameKind.Message, i, Uint8Array.of(0), await env()))
    // a second stream from the same peer gets no fresh budget
    await waitFor(() => started === limit, 10_000, 'all handlers of the first stream running')
    for (let i = 1; i <= 5; i++) c2.stream.send(encodeFrame(FrameKind.Message, i, Uint8Array.of(0), await env()))
    for (let i = 1; i <= 5; i++) assert.deepEqual(await c2.answer(i), { kind: FrameKind.Nack, reason: 'flood' })
    release()
    for (let i = 1; i <= limit; i++) assert.deepEqual(await c1.answer(i), { kind: FrameKind.Ack })
    assert.equal(await dropCount(slow, 'flood') - floodBefore, 5)
    // budget is back once the handlers finished
    c2.stream.send(encodeFrame(FrameKind.Message, 6, Uint8Array.of(0), await env()))
    assert.deepEqual(await c2.answer(6), { kind: FrameKind.Ack })
  })
})

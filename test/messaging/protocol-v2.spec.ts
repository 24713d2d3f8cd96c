/**
 * `/dmsnet/msg/2.0.0` between real nodes over loopback TCP: compact messages authenticated by
 * the connection, signed ones on request, the fallback to 1.0.0 for a peer without 2.0.0, and
 * hostile compact frames written by hand (replayed, expired, too far ahead, malformed, a forged
 * signed envelope on the same stream): each refused with its reason, next to an accepted one.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import { encodeCompactHeader } from '../../src/messaging/compact.js'
import { DropError, InboundStreams } from '../../src/messaging/inbound.js'
import { DEFAULT_MESSAGING_CONFIG } from '../../src/messaging/types.js'
import { encodeEnvelope, signEnvelope } from '../../src/messaging/envelope.js'
import { FrameDecoder, FrameKind, MessageFlags, decodeNack, encodeFrame } from '../../src/messaging/framing.js'
import type { ReceivedMessage } from '../../src/messaging/types.js'
import { waitFor } from '../helpers/wait.js'
import { RawMessageClient } from './hostile-helpers.js'
import { dec, dropCount, enc, startMesh, startMsgNode, stopAll, type MsgNode } from './helpers.js'

describe('messaging: protocol 2.0.0', () => {
  let nodes: MsgNode[] = []
  let a: MsgNode, b: MsgNode
  const got: ReceivedMessage[] = []

  before(async () => {
    nodes = await startMesh(2)
    ;[a, b] = nodes as [MsgNode, MsgNode]
    b.messaging.registerHandler('v2.in', (m) => { got.push(m) })
    b.messaging.registerHandler('v2.echo', (m) => m.payload)
  })
  after(async () => { await stopAll(nodes) })

  function compact (id: number, fields: { type?: string, payload?: Uint8Array, nonce?: Uint8Array, expiry?: number, flags?: number } = {}): Uint8Array {
    const header = encodeCompactHeader(fields.flags ?? 0, { type: fields.type ?? 'v2.in', nonce: fields.nonce ?? randomBytes(16), expiry: fields.expiry ?? Date.now() + 30_000 })
    return encodeFrame(FrameKind.Message, id, header, fields.payload ?? enc('x'))
  }

  it('sends compact messages by default, signed ones on request; the handler is told which', async () => {
    got.length = 0
    await a.messaging.sendMessage(b.id, 'v2.in', enc('plain'))
    await a.messaging.sendMessage(b.id, 'v2.in', enc('signed'), { signed: true })
    assert.deepEqual(got.map(m => [dec(m.payload), m.from, m.authenticatedBy]), [['plain', a.id, 'connection'], ['signed', a.id, 'signature']])
    assert.equal(dec(await a.messaging.request(b.id, 'v2.echo', enc('round'), { replyTo: 'v2.reply' })), 'round')
    assert.equal(dec(await a.messaging.request(b.id, 'v2.echo', enc('round-signed'), { signed: true })), 'round-signed')
  })

  it('starts handlers in arrival order when signed and compact messages mix on one stream', async () => {
    const seen: number[] = []
    b.messaging.registerHandler('v2.order', async (m) => { seen.push(m.payload[0] as number) })
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < 60; i++) sends.push(a.messaging.sendMessage(b.id, 'v2.order', Uint8Array.of(i), { signed: i % 3 === 0 }))
    await Promise.all(sends)
    assert.deepEqual(seen, Array.from({ length: 60 }, (_, i) => i))
  })

  it('refuses replayed, expired, far-future, malformed and forged messages on a 2.0.0 stream; the stream keeps serving', async () => {
    got.length = 0
    const c = new RawMessageClient(await a.node.net.dialProtocol(b.id, b.messaging.config.protocolV2))
    const nonce = randomBytes(16)
    // positive control: a well-formed compact message from the connection's peer
    c.stream.send(compact(1, { nonce, payload: enc('ok') }))
    assert.deepEqual(await c.answer(1), { kind: FrameKind.Ack })
    assert.deepEqual(got.map(m => [dec(m.payload), m.from, m.authenticatedBy]), [['ok', a.id, 'connection']])

    c.stream.send(compact(2, { nonce, payload: enc('again') }))
    assert.deepEqual(await c.answer(2), { kind: FrameKind.Nack, reason: 'replayed' })
    c.stream.send(compact(3, { expiry: Date.now() - 1000 }))
    assert.deepEqual(await c.answer(3), { kind: FrameKind.Nack, reason: 'expired' })
    c.stream.send(compact(4, { expiry: Date.now() + 24 * 3600_000 }))
    assert.deepEqual(await c.answer(4), { kind: FrameKind.Nack, reason: 'expiry-too-far' })
    // truncated header, a type that is not UTF-8, a type length pointing past the frame
    c.stream.send(encodeFrame(FrameKind.Message, 5, Uint8Array.of(0, 0, 0, 1)))
    assert.deepEqual(await c.answer(5), { kind: FrameKind.Nack, reason: 'undecodable' })
    const badUtf8 = compact(6, { type: 'ab' })
    badUtf8.set([0xc3, 0x28], badUtf8.byteLength - 1 - 2 - 2)
    c.stream.send(badUtf8)
    assert.deepEqual(await c.answer(6), { kind: FrameKind.Nack, reason: 'undecodable' })
    const longType = compact(7, { type: 'ab', payload: new Uint8Array(0) })
    longType[longType.byteLength - 2 - 2 - 2] = 0xff
    c.stream.send(longType)
    assert.deepEqual(await c.answer(7), { kind: FrameKind.Nack, reason: 'undecodable' })
    c.stream.send(compact(8, { type: 'v2.nobody' }))
    assert.deepEqual(await c.answer(8), { kind: FrameKind.Nack, reason: 'no-handler' })

    // the Signed flag makes the receiver check a full envelope: forged ones are refused as on 1.0.0
    const other = await generateKeyPair('Ed25519')
    const fields = { type: 'v2.in', payload: enc('env'), nonce: randomBytes(16), expiry: Date.now() + 30_000 }
    const signedFlag = Uint8Array.of(MessageFlags.Signed)
    c.stream.send(encodeFrame(FrameKind.Message, 9, signedFlag, (await signEnvelope(other, peerIdFromPrivateKey(other), fields)).bytes))
    assert.deepEqual(await c.answer(9), { kind: FrameKind.Nack, reason: 'wrong-sender' })
    const { envelope } = await signEnvelope(a.privateKey, peerIdFromPrivateKey(a.privateKey), fields)
    c.stream.send(encodeFrame(FrameKind.Message, 10, signedFlag, encodeEnvelope({ ...envelope, payload: enc('tampered') })))
    assert.deepEqual(await c.answer(10), { kind: FrameKind.Nack, reason: 'bad-signature' })
    // without the flag, an envelope is not a compact body
    c.stream.send(encodeFrame(FrameKind.Message, 11, Uint8Array.of(0), encodeEnvelope(envelope)))
    assert.deepEqual(await c.answer(11), { kind: FrameKind.Nack, reason: 'undecodable' })
    c.stream.send(encodeFrame(FrameKind.Message, 12, signedFlag, encodeEnvelope(envelope)))
    assert.deepEqual(await c.answer(12), { kind: FrameKind.Ack })

    c.stream.send(compact(13, { payload: enc('still') }))
    assert.deepEqual(await c.answer(13), { kind: FrameKind.Ack })
    assert.deepEqual(got.map(m => dec(m.payload)), ['ok', 'env', 'still'])
    for (const [reason, n] of [['replayed', 1], ['expired', 1], ['expiry-too-far', 1], ['undecodable', 4], ['wrong-sender', 1], ['bad-signature', 1], ['no-handler', 1]] as const) {
      assert.equal(await dropCount(b, reason), n, reason)
    }
    c.stream.abort(new Error('done'))
  })

  it('signDirect signs every direct message; a send can still opt out', async () => {
    const signer = await startMsgNode({ signDirect: true })
    try {
      await signer.node.net.dial(b.addr)
      got.length = 0
      await signer.messaging.sendMessage(b.id, 'v2.in', enc('by-config'))
      await signer.messaging.sendMessage(b.id, 'v2.in', enc('opted-out'), { signed: false })
      assert.deepEqual(got.map(m => [dec(m.payload), m.from, m.authenticatedBy]), [['by-config', signer.id, 'signature'], ['opted-out', signer.id, 'connection']])
    } finally {
      await stopAll([signer])
    }
  })

  it('falls back to signed 1.0.0 messages with a peer that does not speak 2.0.0', async () => {
    // an older peer: its messaging answers 1.0.0 only (2.0.0 is registered under another id)
    const old = await startMsgNode({ protocolV2: '/dmsnet-test/not-2.0.0' })
    try {
      await a.node.net.dial(old.addr)
      const seen: ReceivedMessage[] = []
      old.messaging.registerHandler('v2.in', (m) => { seen.push(m) })
      old.messaging.registerHandler('v2.echo', (m) => m.payload)
      await a.messaging.sendMessage(old.id, 'v2.in', enc('to-old'))
      assert.equal(dec(await a.messaging.request(old.id, 'v2.echo', enc('echo-old'))), 'echo-old')
      assert.deepEqual(seen.map(m => [dec(m.payload), m.from, m.authenticatedBy]), [['to-old', a.id, 'signature']])
      // and the new peer still answers what the old one sends on 1.0.0
      assert.equal(dec(await old.messaging.request(b.id, 'v2.echo', enc('from-old'))), 'from-old')
    } finally {
      await stopAll([old])
    }
  })
})

describe('messaging: protocol 2.0.0 receive path (unit)', () => {
  /** An in-memory stream: frames written to it are pushed back as its answers. */
  function fakeStream (): { stream: Stream, answers: Array<{ kind: number, reason?: string }> } {
    const target = new EventTarget()
    const answers: Array<{ kind: number, reason?: string }> = []
    const decoder = new FrameDecoder(1 << 20)
    const stream = Object.assign(target, {
      writeStatus: 'writable',
      writeBufferLength: 0,
      send: (data: Uint8Array) => {
        for (const f of decoder.push(data)) if (!(f instanceof Error)) answers.push(f.kind === FrameKind.Nack ? { kind: f.kind, reason: decodeNack(f.rest).reason } : { kind: f.kind })
        return true
      },
      abort: () => {}
    })
    return { stream: stream as unknown as Stream, answers }
  }

  it('accepts a compact message only on a connection its encrypter authenticates', async () => {
    const key = await generateKeyPair('Ed25519')
    const remotePeer = peerIdFromPrivateKey(key)
    const handled: string[] = []
    const drops: string[] = []
    const inbound = new InboundStreams({
      config: { ...DEFAULT_MESSAGING_CONFIG },
      maxFrame: 1 << 20,
      countDrop: (_peer, reason) => { drops.push(reason) },
      verify: async () => { throw new DropError('bad-signature', 'not used here') },
      checkFresh: () => {},
      dispatchMessage: (m) => { handled.push(`${m.from === remotePeer.toString() ? 'remote' : '?'}:${dec(m.payload)}`); return undefined }
    })
    const frame = (id: number, text: string): Uint8Array => encodeFrame(FrameKind.Message, id, encodeCompactHeader(0, { type: 't', nonce: randomBytes(16), expiry: Date.now() + 10_000 }), enc(text))
    const deliver = (stream: Stream, data: Uint8Array): void => { stream.dispatchEvent(Object.assign(new Event('message'), { data })) }

    const noise = fakeStream()
    inbound.serve(noise.stream, { remotePeer, encryption: '/noise' } as unknown as Connection, true)
    deliver(noise.stream, frame(1, 'over-noise'))
    const plain = fakeStream()
    inbound.serve(plain.stream, { remotePeer, encryption: '/plaintext/2.0.0' } as unknown as Connection, true)
    deliver(plain.stream, frame(1, 'over-plaintext'))

    await waitFor(() => noise.answers.length > 0 && plain.answers.length > 0, 5000, 'both answers')
    assert.deepEqual(noise.answers, [{ kind: FrameKind.Ack }])
    assert.deepEqual(plain.answers, [{ kind: FrameKind.Nack, reason: 'unauthenticated' }])
    assert.deepEqual(handled, ['remote:over-noise'])
    assert.deepEqual(drops, ['unauthenticated'])
  })
})

/**
 * dmsnet's direct-message protocol against an implementation written from docs/protocols.md
 * alone (test/interop/go/msg.go, envelope.go): 1,000 signed requests each way with every answer
 * checked, and each side refusing forged envelopes from the other with the documented reason
 * (valid ones in the same test as the control).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodeEnvelope, signEnvelope } from '../../src/messaging/envelope.js'
import { FrameDecoder, FrameKind, MessageFlags, encodeFrame } from '../../src/messaging/framing.js'
import type { ReceivedMessage } from '../../src/messaging/types.js'
import { GoPeer } from './go-peer.js'
import { dropped, startInteropNode, type InteropNode } from './nodes.js'
import { pause } from '../helpers/wait.js'

const HASH = 'interop.hash'
const COUNT = 1000
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest()

function stat (stats: string[], key: string): number {
  const kv = stats.find(s => s.startsWith(`${key}=`))
  return kv == null ? 0 : Number(kv.split('=')[1])
}

describe('interop direct messages: dmsnet <-> go peer built from docs/protocols.md', () => {
  let go: GoPeer
  let node: InteropNode
  const handled: ReceivedMessage[] = []

  before(async () => {
    go = await GoPeer.start()
    node = await startInteropNode()
    node.messaging.registerHandler(HASH, (m) => {
      handled.push(m)
      return sha256(m.payload)
    })
    await node.node.net.dial(go.addr)
  })

  after(async () => {
    await go?.stop()
    await node?.stop()
  })

  test(`go -> dmsnet: ${COUNT} signed requests, every response checked by go`, async () => {
    const [ok, ms] = await go.cmd('req', [node.id, COUNT, 32], 300_000)
    assert.equal(Number(ok), COUNT)
    assert.equal(handled.length, COUNT)
    assert.ok(handled.every(m => m.from === go.id && m.type === HASH))
    assert.equal(await dropped(node, 'bad-signature'), 0)
    console.log(`# ${COUNT} requests go->dmsnet in ${ms} ms`)
  })

  test(`dmsnet -> go: ${COUNT} signed requests, go verifies every signature`, async () => {
    const before = stat(await go.cmd('msg-stats'), 'valid')
    const started = Date.now()
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < COUNT) {
        const i = next++
        const payload = randomBytes(1 + (i % 1024))
        const answer = await node.messaging.request(go.id, HASH, payload)
        assert.deepEqual(Buffer.from(answer), sha256(payload), `request ${i}`)
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker))
    const stats = await go.cmd('msg-stats')
    assert.equal(stat(stats, 'valid') - before, COUNT, stats.join(' '))
    assert.equal(stat(stats, 'bad-signature'), 0)
    console.log(`# ${COUNT} requests dmsnet->go in ${Date.now() - started} ms`)
  })

  test('dmsnet refuses forged envelopes from go with the documented reason', async () => {
    assert.deepEqual(await go.cmd('send-forged', [node.id, 'good']), ['kind', String(FrameKind.Response)])
    for (const [mode, reason] of [['bad-sig', 'bad-signature'], ['expired', 'expired']] as const) {
      const n = await dropped(node, reason)
      assert.deepEqual(await go.cmd('send-forged', [node.id, mode]), ['nack', reason])
      assert.equal(await dropped(node, reason), n + 1)
    }
  })

  test('go refuses forged envelopes from dmsnet with the documented reason', async () => {
    // a raw stream on the message protocol, frames built by hand with dmsnet's own codec
    const stream = await node.node.net.dialProtocol(go.id, '/dmsnet/msg/1.0.0')
    const decoder = new FrameDecoder(1 << 21)
    const answers: Array<{ kind: number, id: number, text: string }> = []
    stream.addEventListener('message', (evt) => {
      for (const f of decoder.push(evt.data)) {
        if (!(f instanceof Error)) answers.push({ kind: f.kind, id: f.id, text: Buffer.from(f.rest).toString() })
      }
    })
    const fields = { type: HASH, payload: Buffer.from('hello go'), nonce: randomBytes(16), expiry: Date.now() + 60_000 }
    const key = node.messaging.privateKey
    const good = await signEnvelope(key, node.node.net.peerId, fields)
    const tampered = encodeEnvelope({ ...good.envelope, payload: Buffer.from('hello GO') })
    const other = await signEnvelope(key, peerIdFromString(go.id), { ...fields, nonce: randomBytes(16) })
    const flags = Uint8Array.of(MessageFlags.WantResponse)
    stream.send(encodeFrame(FrameKind.Message, 1, flags, good.bytes))
    stream.send(encodeFrame(FrameKind.Message, 2, flags, tampered))
    stream.send(encodeFrame(FrameKind.Message, 3, flags, other.bytes))
    stream.send(encodeFrame(FrameKind.Message, 4, flags, good.bytes))
    const end = Date.now() + 10_000
    while (answers.length < 4 && Date.now() < end) await pause(20) // polling interval of a bounded wait for a condition
    stream.abort(new Error('done'))
    assert.deepEqual(answers.map(a => [a.id, a.kind]), [[1, FrameKind.Response], [2, FrameKind.Nack], [3, FrameKind.Nack], [4, FrameKind.Nack]])
    assert.equal(answers[0]!.text, sha256(Buffer.from('hello go')).toString())
    assert.deepEqual(answers.slice(1).map(a => a.text.split('\n')[0]), ['bad-signature', 'wrong-sender', 'replayed'])
  })
})

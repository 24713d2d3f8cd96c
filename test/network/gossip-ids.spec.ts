/**
 * Gossipsub's duplicate check comes before its signature check (src/network/gossip-ids.ts), on
 * real nodes: a copy of a message the node has already validated, with its signature broken, is
 * classed a duplicate without a verification; the same broken copy with a sequence number the
 * node has not seen is still rejected as invalid (the control), and rejecting it does not put its
 * id in the cache (the same forgery is rejected again, not taken for a duplicate).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { PeerId } from '@libp2p/interface'
import { fastMessageId } from '../../src/network/gossip-ids.js'
import { startMesh, stopAll, enc, type MsgNode } from '../messaging/helpers.js'
import { waitFor } from './helpers.js'

interface RpcMessage { from?: Uint8Array, data?: Uint8Array, seqno?: Uint8Array, topic: string, signature?: Uint8Array, key?: Uint8Array }
interface SignedMessage { type: 'signed', from: PeerId, data: Uint8Array, sequenceNumber: bigint, topic: string, signature: Uint8Array }
interface GossipInternals { validateReceivedMessage (from: PeerId, msg: RpcMessage): Promise<{ code: string, error?: string }> }

const seqnoBytes = (n: bigint): Uint8Array => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, n); return b }

describe('network: gossipsub fast message ids', () => {
  let nodes: MsgNode[] = []
  before(async () => { nodes = await startMesh(2) })
  after(async () => { await stopAll(nodes) })

  it('the id is from + seqno, and only those', () => {
    const id = (m: RpcMessage): string => fastMessageId(m)
    const a: RpcMessage = { from: new Uint8Array([1, 2]), seqno: seqnoBytes(7n), data: enc('x'), topic: '/t' }
    assert.equal(id(a), id({ ...a, data: enc('y'), topic: '/u' }))
    assert.notEqual(id(a), id({ ...a, seqno: seqnoBytes(8n) }))
    assert.notEqual(id(a), id({ ...a, from: new Uint8Array([1, 3]) }))
  })

  it('a validated message\'s copy with a broken signature is a duplicate; with a new seqno, invalid', async () => {
    const [pub, sub] = nodes as [MsgNode, MsgNode]
    const topic = '/t/fast-ids'
    const gs = sub.node.net.host.services.pubsub
    let seen: SignedMessage | undefined
    const onMessage = (e: CustomEvent<{ msg: SignedMessage }>): void => { if (e.detail.msg.topic === topic) seen = e.detail.msg }
    gs.addEventListener('gossipsub:message' as never, onMessage as never)
    const s = sub.messaging.subscribe(topic, () => {})
    await waitFor(() => pub.node.net.host.services.pubsub.getSubscribers(topic).some(p => p.toString() === sub.id), 15_000, 'subscription seen')
    await pub.messaging.publish(topic, 'note', enc('once'))
    await waitFor(() => seen != null, 10_000, 'the message at the subscriber')
    const m = seen!
    const broken = new Uint8Array(m.signature)
    broken[0]! ^= 0xff
    // no `key`: an Ed25519 peer id carries its public key
    const copy: RpcMessage = { from: m.from.toMultihash().bytes, data: m.data, seqno: seqnoBytes(m.sequenceNumber), topic, signature: broken }
    const internals = gs as unknown as GossipInternals
    const from = pub.node.net.peerId
    assert.equal((await internals.validateReceivedMessage(from, copy)).code, 'duplicate')
    // the control: the same broken signature under an id never validated is checked, and fails
    const fresh = await internals.validateReceivedMessage(from, { ...copy, seqno: seqnoBytes(m.sequenceNumber + 1000n) })
    assert.equal(fresh.code, 'invalid')
    assert.equal(fresh.error, 'invalid_signature')
    // and a forged copy cannot claim an id first: the rejected one did not enter the cache, so the
    // same forgery again is checked (and rejected) again, not waved through as a duplicate
    const again = await internals.validateReceivedMessage(from, { ...copy, seqno: seqnoBytes(m.sequenceNumber + 1000n) })
    assert.equal(again.code, 'invalid')
    gs.removeEventListener('gossipsub:message' as never, onMessage as never)
    s.unsubscribe()
  })
})

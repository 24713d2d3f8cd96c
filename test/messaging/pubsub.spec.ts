/**
 * Gossip pubsub and job bidding on 5 real nodes over loopback TCP: delivery to every subscriber,
 * validators rejecting forged, expired and wrongly-topicked envelopes, user validators,
 * unsubscribe, and a job with 4 bidders yielding 4 verified bids.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encode } from 'cborg'
import { signEnvelope } from '../../src/messaging/envelope.js'
import { BID_TYPE, type Bid } from '../../src/messaging/jobs.js'
import type { ReceivedMessage } from '../../src/messaging/types.js'
import { waitFor } from '../network/helpers.js'
import { startMesh, stopAll, dropCount, enc, dec, type MsgNode } from './helpers.js'

async function subscribersSeen (nodes: MsgNode[], topic: string, subscribers: MsgNode[]): Promise<void> {
  await waitFor(() => nodes.every(n => subscribers.every(s => s === n || n.node.net.host.services.pubsub.getSubscribers(topic).some(p => p.toString() === s.id))), 15_000, `subscriptions to ${topic}`)
}

describe('messaging: pubsub and jobs on 5 nodes', () => {
  let nodes: MsgNode[] = []
  before(async () => { nodes = await startMesh(5) })
  after(async () => { await stopAll(nodes) })

  it('delivers a published message to every subscriber, signed by its publisher', async () => {
    const topic = '/t/all'
    const got = new Map<string, ReceivedMessage[]>()
    const subs = nodes.map(n => n.messaging.subscribe(topic, (m) => { got.set(n.id, [...(got.get(n.id) ?? []), m]) }))
    await subscribersSeen(nodes, topic, nodes)
    const [pub] = nodes as [MsgNode]
    await pub.messaging.publish(topic, 'note', enc('hello all'))
    await waitFor(() => nodes.slice(1).every(n => (got.get(n.id)?.length ?? 0) === 1), 10_000, 'delivery')
    for (const n of nodes.slice(1)) {
      const m = got.get(n.id)![0]!
      assert.equal(m.from, pub.id)
      assert.equal(m.type, 'note')
      assert.equal(m.topic, topic)
      assert.equal(dec(m.payload), 'hello all')
    }
    // unsubscribe: node 1 no longer receives. A marker topic that node 1 keeps is the barrier:
    // the publisher sends 'second' before 'marker' on the same ordered stream, so once node 1 has
    // the marker, a wrong delivery of 'second' would already have reached its handler
    const n1 = nodes[1]!
    const markers: string[] = []
    const marker = n1.messaging.subscribe('/t/all-marker', (m) => { markers.push(dec(m.payload)) })
    await subscribersSeen([pub], '/t/all-marker', [n1])
    subs[1]!.unsubscribe()
    await waitFor(() => !pub.node.net.host.services.pubsub.getSubscribers(topic).some(p => p.toString() === n1.id), 10_000, 'unsubscribe seen')
    await pub.messaging.publish(topic, 'note', enc('second'))
    await waitFor(() => nodes.slice(2).every(n => got.get(n.id)?.length === 2), 10_000, 'second delivery to the subscribed nodes')
    await pub.messaging.publish('/t/all-marker', 'note', enc('marker'))
    await waitFor(() => markers.includes('marker'), 10_000, 'the marker at node 1')
    assert.equal(got.get(n1.id)?.length, 1, 'the unsubscribed node received nothing more')
    marker.unsubscribe()
    for (const s of subs) s.unsubscribe()
  })

  it('rejects forged, expired and wrong-topic envelopes and runs user validators', async () => {
    const topic = '/t/guarded'
    const attacker = nodes[4]!
    const receivers = nodes.slice(0, 4)
    const got: string[] = []
    const subs = receivers.map(n => n.messaging.subscribe(topic, (m) => { got.push(`${n.id}:${dec(m.payload)}`) }, {
      validator: (m) => dec(m.payload) === 'user-rejects' ? 'reject' : 'accept'
    }))
    await subscribersSeen([attacker], topic, receivers)
    const raw = attacker.node.net.host.services.pubsub
    const attackerId = peerIdFromPrivateKey(attacker.privateKey)

    // forged: an envelope validly signed by someone else, published by the attacker
    const victimKey = await generateKeyPair('Ed25519')
    const forged = await signEnvelope(victimKey, peerIdFromPrivateKey(victimKey), { type: 'note', payload: enc('forged'), nonce: randomBytes(16), expiry: Date.now() + 30_000, topic })
    await raw.publish(topic, forged.bytes)
    // expired
    const expired = await signEnvelope(attacker.privateKey, attackerId, { type: 'note', payload: enc('expired'), nonce: randomBytes(16), expiry: Date.now() - 1000, topic })
    await raw.publish(topic, expired.bytes)
    // signed for another topic
    const other = await signEnvelope(attacker.privateKey, attackerId, { type: 'note', payload: enc('other-topic'), nonce: randomBytes(16), expiry: Date.now() + 30_000, topic: '/t/else' })
    await raw.publish(topic, other.bytes)
    // not an envelope at all
    await raw.publish(topic, Uint8Array.of(1, 2, 3))
    // refused by the user validator
    await attacker.messaging.publish(topic, 'note', enc('user-rejects'))
    // and a good one, which must arrive everywhere
    await attacker.messaging.publish(topic, 'note', enc('good'))

    await waitFor(() => got.filter(g => g.endsWith(':good')).length === 4, 10_000, 'good message everywhere')
    for (const n of receivers) {
      await waitFor(async () => (await dropCount(n, 'wrong-sender')) === 1 && (await dropCount(n, 'expired')) === 1 &&
        (await dropCount(n, 'topic-mismatch')) === 1 && (await dropCount(n, 'undecodable')) === 1 && (await dropCount(n, 'validator')) === 1, 10_000, `drop counters on ${n.id}`)
      // forged/undecodable/mismatch/user-rejected count against the attacker's application score
      assert.ok(n.messaging.pubsub.appScore(attacker.id) < 0)
    }
    assert.deepEqual(got.filter(g => !g.endsWith(':good')), [])
    for (const s of subs) s.unsubscribe()
  })

  it('a job with 4 bidders yields 4 verified bids, as a list and as they arrive', async () => {
    const [orch, ...bidders] = nodes as [MsgNode, ...MsgNode[]]
    const servers = bidders.map((n, i) => n.messaging.serveBids((req) => {
      assert.equal(req.orchestrator, orch.id)
      return { price: 10 + i, info: { node: i, kind: req.kind } }
    }))
    await subscribersSeen([orch], orch.messaging.config.jobsTopic, bidders)

    const job = orch.messaging.publishJob({ kind: 'docker', resources: { cpuCores: 2, memoryMiB: 512 } }, { deadlineMs: 15_000, maxBids: 4 })
    const streamed: Bid[] = []
    for await (const bid of job) streamed.push(bid)
    const all = await job.bids
    assert.equal(all.length, 4)
    assert.deepEqual(streamed, all)
    assert.deepEqual(all.map(b => b.bidder).sort(), bidders.map(b => b.id).sort())
    for (const b of all) {
      assert.equal(b.requestId, job.requestId)
      const i = bidders.findIndex(n => n.id === b.bidder)
      assert.equal(b.price, 10 + i)
      assert.deepEqual(b.info, { node: i, kind: 'docker' })
    }
    for (const s of servers) s.stop()
  })

  it('refuses duplicate, forged and late bids', async () => {
    const [orch, b1, b2] = nodes as [MsgNode, MsgNode, MsgNode]
    const job = orch.messaging.publishJob({ id: 'job-dup', kind: 'wasm', resources: {} }, { deadlineMs: 5000 })
    const bid = (bidder: string): Uint8Array => encode({ requestId: 'job-dup', bidder, price: 1, createdAt: Date.now() })
    await b1.messaging.sendMessage(orch.id, BID_TYPE, bid(b1.id))
    await assert.rejects(b1.messaging.sendMessage(orch.id, BID_TYPE, bid(b1.id)), { name: 'MessageRejectedError' })
    // b2 signs a bid claiming to be b1
    await assert.rejects(b2.messaging.sendMessage(orch.id, BID_TYPE, bid(b1.id)), { name: 'MessageRejectedError' })
    job.close()
    assert.deepEqual((await job.bids).map(b => b.bidder), [b1.id])
    // after closing, bids are refused
    await assert.rejects(b2.messaging.sendMessage(orch.id, BID_TYPE, bid(b2.id)), { name: 'MessageRejectedError' })
  })
})

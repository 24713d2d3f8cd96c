/**
 * Messaging and the DHT against hostile peers, on real nodes over loopback TCP. The attacker is a
 * real dmsnet node using the project's own parts (envelope signing, frames, advert records, its
 * gossipsub router) to flood: 5000 freshly minted gossip senders, envelopes expiring far in the
 * future, more bytes in flight than its share, and 20,000 DHT PUTs from one identity.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { GossipSub } from '@libp2p/gossipsub'
import { advertDhtKey, signAdvert, verifyAdvert } from '../../src/messaging/advert-record.js'
import type { AdvertQuotaDatastore } from '../../src/messaging/advert-store.js'
import { signEnvelope } from '../../src/messaging/envelope.js'
import { encodeFrame, FrameKind } from '../../src/messaging/framing.js'
import { waitFor } from '../network/helpers.js'
import { dropCount, enc, startMesh, startMsgNode, stopAll, type MsgNode } from './helpers.js'
import { publishAs, putMany, putValue, RawMessageClient } from './hostile-helpers.js'

const MAX = 64 * 1024

describe('messaging and DHT against hostile peers', { timeout: 240_000 }, () => {
  let nodes: MsgNode[] = []
  let victim: MsgNode, attacker: MsgNode, honest: MsgNode

  before(async () => {
    nodes = await startMesh(3, { maxMessageSize: MAX, maxInFlightBytesPerPeer: 300_000, maxInFlightBytes: 600_000 })
    ;[victim, attacker, honest] = nodes as [MsgNode, MsgNode, MsgNode]
  })
  after(async () => { await stopAll(nodes) })

  it('5000 freshly minted gossip senders: memory stays within the forwarder\'s quota, its score falls, an honest new sender still gets through', async () => {
    const topic = 'hostile/flood'
    const got: string[] = []
    victim.messaging.subscribe(topic, (m) => { got.push(m.from) })
    const ps = (n: MsgNode): GossipSub & { getScore(peer: string): number } => n.node.net.host.services.pubsub as GossipSub & { getScore(peer: string): number }
    await waitFor(() => [attacker, honest].every(n => ps(n).getSubscribers(topic).some(p => p.toString() === victim.id)), 15_000, 'victim subscription seen')
    const floodBefore = await dropCount(victim, 'flood')
    const N = 5000
    for (let i = 0; i < N; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, N - i) }, async () => {
        const key = await generateKeyPair('Ed25519')
        const { bytes } = await signEnvelope(key, peerIdFromPrivateKey(key), { type: 'flood', payload: enc('x'), nonce: randomBytes(16), expiry: Date.now() + 110_000, topic })
        await publishAs(attacker.node.net, key, topic, bytes)
      }))
    }
    const quota = victim.messaging.config.replayCacheSendersPerPeer
    await waitFor(async () => await dropCount(victim, 'flood') > floodBefore, 60_000, 'flood refusals counted')
    await waitFor(() => ps(victim).getScore(attacker.id) < 0, 30_000, 'the attacker\'s gossip score falls')
    const stats = victim.messaging.stats().replayCache
    assert.ok(stats.senders <= quota + 2, `replay memory holds ${stats.senders} senders, quota ${quota}`)
    assert.ok(stats.quotaRefusals > 0)
    assert.ok(got.length <= quota, 'no more of the attacker\'s senders delivered than its quota')
    // the honest peer, a sender the victim has never seen, still gets through
    await honest.messaging.publish(topic, 'hello', enc('honest'))
    await waitFor(() => got.includes(honest.id), 20_000, 'honest message delivered')
    assert.ok(ps(victim).getScore(honest.id) >= 0, 'the honest peer is not penalised')
  })

  it('far-future expiry and a byte flood are refused on the wire with typed reasons; other peers are unaffected', async () => {
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const seen: string[] = []
    victim.messaging.registerHandler('t.slow', async (m) => { seen.push(m.from); await gate })
    victim.messaging.registerHandler('t.now', () => {})
    const env = async (type: string, expiry: number, size = 1): Promise<Uint8Array> =>
      (await signEnvelope(attacker.privateKey, peerIdFromPrivateKey(attacker.privateKey), { type, payload: new Uint8Array(size), nonce: randomBytes(16), expiry })).bytes
    const c = new RawMessageClient(await attacker.node.net.dialProtocol(victim.id, victim.messaging.config.protocol))
    // an envelope valid for a day: refused, typed; the same one valid for 30 s: accepted
    c.stream.send(encodeFrame(FrameKind.Message, 1, Uint8Array.of(0), await env('t.now', Date.now() + 86_400_000)))
    assert.deepEqual(await c.answer(1), { kind: FrameKind.Nack, reason: 'expiry-too-far' })
    c.stream.send(encodeFrame(FrameKind.Message, 2, Uint8Array.of(0), await env('t.now', Date.now() + 30_000)))
    assert.deepEqual(await c.answer(2), { kind: FrameKind.Ack })
    assert.equal(await dropCount(victim, 'expiry-too-far'), 1)

    // 10 messages of 60 KB held by a slow handler: the first 4 fit the peer's 300 KB budget
    const floodBefore = await dropCount(victim, 'flood')
    for (let i = 10; i < 20; i++) c.stream.send(encodeFrame(FrameKind.Message, i, Uint8Array.of(0), await env('t.slow', Date.now() + 30_000, 60_000)))
    for (let i = 14; i < 20; i++) assert.deepEqual(await c.answer(i), { kind: FrameKind.Nack, reason: 'flood' })
    assert.equal(await dropCount(victim, 'flood') - floodBefore, 6)
    assert.ok(victim.messaging.stats().inboundInFlightBytes <= 300_000)
    // another peer still has its own budget meanwhile
    const honestSend = honest.messaging.sendMessage(victim.id, 't.slow', new Uint8Array(60_000), { timeoutMs: 20_000 })
    await waitFor(() => seen.includes(honest.id), 10_000, 'honest message handled during the flood')
    release()
    await honestSend
    for (let i = 10; i < 14; i++) assert.deepEqual(await c.answer(i), { kind: FrameKind.Ack })
    // the budget is back once handled
    c.stream.send(encodeFrame(FrameKind.Message, 30, Uint8Array.of(0), await env('t.slow', Date.now() + 30_000, 60_000)))
    assert.deepEqual(await c.answer(30), { kind: FrameKind.Ack })
  })

  it('20,000 DHT PUTs from one identity: stored records stay within its quota, the quota counter rises; a far-future record is refused', async () => {
    const ds = (victim.node.net.host as unknown as { components: { datastore: AdvertQuotaDatastore } }).components.datastore
    const protocol = `${victim.node.config.network.dht.protocolPrefix}/kad/1.0.0`
    const me = peerIdFromPrivateKey(attacker.privateKey)
    const record = async (key: string, ttl: number): Promise<[Uint8Array, Uint8Array]> =>
      [advertDhtKey(key, me), await signAdvert(attacker.privateKey, me, { key, seq: 1, expiresAt: Date.now() + ttl, deleted: false, data: new Uint8Array(200) })]
    // far-future expiry: the advert validator throws RecordLifetimeError, so the victim's kad-dht
    // resets the PUT stream (it has no refusal message); nothing is stored
    const far = await record('far', 30 * 86_400_000)
    await assert.rejects(verifyAdvert(...far), { name: 'RecordLifetimeError' })
    assert.deepEqual(await putValue(attacker.node.net, victim.id, protocol, ...far), { stored: false, error: 'StreamResetError' })
    assert.equal(ds.stats().records, 0)
    // positive control: the same record with a 1 h lifetime is stored
    const near = await record('near', 3_600_000)
    await verifyAdvert(...near)
    assert.deepEqual(await putValue(attacker.node.net, victim.id, protocol, ...near), { stored: true })
    assert.equal(ds.stats().records, 1)

    const N = 20_000
    const t0 = Date.now()
    const items: Array<[Uint8Array, Uint8Array]> = []
    for (let i = 0; i < N; i++) items.push(await record(`k${i}`, 3_600_000))
    // 8 streams of 2500 PUTs each: refusals are silent, so each stream carries on
    const answered = await Promise.all(Array.from({ length: 8 }, async (_, j) => await putMany(attacker.node.net, victim.id, protocol, items.slice(j * 2500, (j + 1) * 2500))))
    assert.equal(answered.reduce((a, b) => a + b, 0), N, 'every PUT reached the victim and was answered')
    assert.ok(Date.now() - t0 < 200_000, 'flood bounded in time')
    const s = ds.stats()
    assert.equal(s.records, 64, 'the signer\'s record quota (default 64) bounds what is stored')
    assert.ok(s.bytes <= 1024 * 1024)
    assert.ok(s.quotaRefusals >= N - 64, `quota refusals ${s.quotaRefusals}`)
    assert.equal(s.refusedBy['signer-records'], s.quotaRefusals)
    // another signer still has its own quota
    const hk = peerIdFromPrivateKey(honest.privateKey)
    const hv = await signAdvert(honest.privateKey, hk, { key: 'honest', seq: 1, expiresAt: Date.now() + 3_600_000, deleted: false, data: new Uint8Array(10) })
    assert.deepEqual(await putValue(honest.node.net, victim.id, protocol, advertDhtKey('honest', hk), hv), { stored: true })
    assert.equal(ds.stats().records, 65)
  })
})

describe('messaging: the global in-flight byte budget holds over all peers', { timeout: 60_000 }, () => {
  const nodes: MsgNode[] = []

  after(async () => { await stopAll(nodes) })

  it('two peers, each within its own budget, together cannot hold more than the global budget', async () => {
    // per peer 300 KB, all peers 400 KB: 4 messages of 60 KB from one peer, then only 2 more fit
    const victim = await startMsgNode({ maxMessageSize: MAX, maxInFlightBytesPerPeer: 300_000, maxInFlightBytes: 400_000 })
    nodes.push(victim)
    const [a1, a2] = await Promise.all([0, 1].map(async () => await startMsgNode({ maxMessageSize: MAX })))
    nodes.push(a1!, a2!)
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    victim.messaging.registerHandler('t.slow', async () => { await gate })
    const env = async (from: MsgNode): Promise<Uint8Array> =>
      (await signEnvelope(from.privateKey, peerIdFromPrivateKey(from.privateKey), { type: 't.slow', payload: new Uint8Array(60_000), nonce: randomBytes(16), expiry: Date.now() + 30_000 })).bytes
    const send = async (c: RawMessageClient, from: MsgNode, id: number): Promise<void> => { c.stream.send(encodeFrame(FrameKind.Message, id, Uint8Array.of(0), await env(from))) }
    const c1 = new RawMessageClient(await a1!.node.net.dialProtocol(victim.addr, victim.messaging.config.protocol))
    const c2 = new RawMessageClient(await a2!.node.net.dialProtocol(victim.addr, victim.messaging.config.protocol))
    const held = (): number => victim.messaging.stats().inboundInFlightBytes
    for (let i = 1; i <= 4; i++) await send(c1, a1!, i)
    await waitFor(() => held() >= 4 * 60_000, 10_000, "a1's 4 messages held")
    // positive control: a2's first two fit both its own and the global budget
    for (let i = 1; i <= 2; i++) await send(c2, a2!, i)
    await waitFor(() => held() >= 6 * 60_000, 10_000, "a2's 2 messages held")
    const floodBefore = await dropCount(victim, 'flood')
    // a2 holds ~120 KB of its 300 KB, but all peers together would pass 400 KB: refused, typed
    await send(c2, a2!, 3)
    assert.deepEqual(await c2.answer(3), { kind: FrameKind.Nack, reason: 'flood' })
    assert.equal(c2.nackMessage(3), 'too many bytes in flight in all')
    assert.equal(await dropCount(victim, 'flood') - floodBefore, 1)
    assert.ok(held() <= 400_000, `held ${held()} bytes`)
    release()
    for (let i = 1; i <= 4; i++) assert.deepEqual(await c1.answer(i), { kind: FrameKind.Ack })
    for (let i = 1; i <= 2; i++) assert.deepEqual(await c2.answer(i), { kind: FrameKind.Ack })
    // the global budget is back once handled
    await waitFor(() => held() === 0, 10_000, 'nothing held')
    await send(c2, a2!, 4)
    assert.deepEqual(await c2.answer(4), { kind: FrameKind.Ack })
  })
})

/**
 * DHT advertisements on 5 real nodes: advertise/query across nodes, newest wins, unadvertise,
 * and a peer that forges another's advertisement is rejected by every DHT node.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { advertDhtKey, signAdvert } from '../../src/messaging/advert-record.js'
import { waitFor } from '../network/helpers.js'
import { startMesh, startMsgNode, stopAll, enc, dec, type MsgNode } from './helpers.js'

/** Peers in a node's kad-dht routing table (SingleKadDHT exposes it; KadDHT's type does not). */
function routingTableSize (n: MsgNode): number {
  return (n.node.net.host.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
}

/** Runs a DHT put and counts the remote peers that stored the record vs refused it. */
async function put (it: AsyncIterable<{ name: string, messageType?: unknown }>): Promise<{ accepted: number, refused: number }> {
  let accepted = 0
  let refused = 0
  for await (const ev of it) {
    // PEER_RESPONSE events of the closest-peers lookup come first; only PUT_VALUE answers count
    if (ev.name === 'PEER_RESPONSE' && String(ev.messageType) === 'PUT_VALUE') accepted++
    if (ev.name === 'QUERY_ERROR') refused++
  }
  return { accepted, refused }
}

describe('messaging: advertisements on 5 nodes', () => {
  let nodes: MsgNode[] = []
  before(async () => {
    nodes = await startMesh(5)
    // every node's DHT routing table knows the others
    await waitFor(() => nodes.every(n => n.node.net.host.services.dht.getMode() === 'server'), 10_000, 'dht server mode')
    await waitFor(() => nodes.every(n => routingTableSize(n) >= nodes.length - 1), 20_000, 'every routing table holds the other nodes')
  })
  after(async () => { await stopAll(nodes) })

  it('query returns every advertiser of a key; newest wins; unadvertise removes', async () => {
    const [a, b, , , q] = nodes as [MsgNode, MsgNode, MsgNode, MsgNode, MsgNode]
    await a.messaging.advertise('svc/gpu', enc('a-v1'))
    await b.messaging.advertise('svc/gpu', enc('b-v1'))
    let ads = await q.messaging.query('svc/gpu')
    assert.deepEqual(ads.map(x => [x.peer, dec(x.data)]).sort(), [[a.id, 'a-v1'], [b.id, 'b-v1']].sort())

    await a.messaging.advertise('svc/gpu', enc('a-v2'))
    ads = await q.messaging.query('svc/gpu')
    assert.equal(dec(ads.find(x => x.peer === a.id)!.data), 'a-v2')

    await a.messaging.unadvertise('svc/gpu')
    ads = await q.messaging.query('svc/gpu')
    assert.deepEqual(ads.map(x => x.peer), [b.id])
  })

  it('a peer that forges another\'s advertisement is rejected', async () => {
    const [a, , m, , q] = nodes as [MsgNode, MsgNode, MsgNode, MsgNode, MsgNode]
    await a.messaging.advertise('svc/cpu', enc('genuine'))
    const dht = m.node.net.host.services.dht
    const fields = { key: 'svc/cpu', seq: Date.now() + 10_000_000, expiresAt: Date.now() + 60_000, deleted: false, data: enc('forged') }

    // 1. mallory signs with her own key but writes into alice's slot
    const own = await signAdvert(m.privateKey, peerIdFromPrivateKey(m.privateKey), fields)
    const r1 = await put(dht.put(advertDhtKey('svc/cpu', a.id), own))
    assert.equal(r1.accepted, 0)
    assert.ok(r1.refused >= 3, `refused by ${r1.refused}`)
    // 2. mallory writes a tombstone "from alice" signed by a key that is not alice's
    const stranger = await generateKeyPair('Ed25519')
    const tomb = await signAdvert(stranger, peerIdFromPrivateKey(stranger), { ...fields, deleted: true, data: new Uint8Array(0) })
    const r2 = await put(dht.put(advertDhtKey('svc/cpu', a.id), tomb))
    assert.equal(r2.accepted, 0)
    assert.ok(r2.refused >= 3, `refused by ${r2.refused}`)
    // the same code path accepts an honest record: the refusals above are the validator's doing
    const honest = await signAdvert(m.privateKey, peerIdFromPrivateKey(m.privateKey), fields)
    const r3 = await put(dht.put(advertDhtKey('svc/cpu', m.id), honest))
    assert.ok(r3.accepted >= 3, `accepted by ${r3.accepted}`)
    // readers still see alice's genuine record (mallory's node even holds the forgery locally)
    assert.equal(dec((await m.messaging.queryPeer('svc/cpu', a.id))!.data), 'genuine')
    assert.equal(dec((await q.messaging.queryPeer('svc/cpu', a.id))!.data), 'genuine')
  })
})

describe('messaging: peer lookup through the DHT', () => {
  const nodes: MsgNode[] = []
  after(async () => { await stopAll(nodes) })

  it('sends to a peer we were never connected to, found through the DHT', async () => {
    for (let i = 0; i < 3; i++) nodes.push(await startMsgNode())
    const [a, hub, c] = nodes as [MsgNode, MsgNode, MsgNode]
    // a line: a - hub - c; a knows nothing of c but its id
    await a.node.net.dial(hub.addr)
    await c.node.net.dial(hub.addr)
    // the hub's DHT must have both in its routing table (SingleKadDHT exposes it; KadDHT's type does not)
    await waitFor(() => routingTableSize(hub) >= 2, 15_000, 'hub routing table')
    c.messaging.registerHandler('t.far', (m) => enc(`far:${m.from}`))
    assert.equal(a.node.net.isConnected(c.id), false)
    assert.equal(dec(await a.messaging.request(c.id, 't.far', enc(''), { timeoutMs: 20_000 })), `far:${a.id}`)
    assert.equal(a.node.net.isConnected(c.id), true)
  })
})

describe('messaging: periodic re-advertising', () => {
  let nodes: MsgNode[] = []
  after(async () => { await stopAll(nodes) })

  it('keeps a short-lived advertisement alive by re-publishing it', async () => {
    nodes = await startMesh(3, { advertiseIntervalMs: 1000, advertTtlMs: 3000 })
    const [a, , q] = nodes as [MsgNode, MsgNode, MsgNode]
    await waitFor(() => nodes.every(n => routingTableSize(n) >= nodes.length - 1), 20_000, 'every routing table holds the other nodes')
    await a.messaging.advertise('svc/short', enc('alive'))
    const first = await q.messaging.queryPeer('svc/short', a.id)
    assert.ok(first != null)
    assert.equal(dec(first.data), 'alive')
    // once the first record has expired, only re-advertising can have left a valid one behind
    let later: Awaited<ReturnType<typeof q.messaging.queryPeer>>
    await waitFor(async () => {
      if (Date.now() <= first.expiresAt) return false
      later = await q.messaging.queryPeer('svc/short', a.id)
      return later != null && later.seq > first.seq && later.expiresAt > Date.now()
    }, 30_000, 'a newer, live record after the first one expired')
    assert.equal(dec(later!.data), 'alive')
    // once unadvertised, the key leaves the periodic task and readers see the tombstone
    await a.messaging.unadvertise('svc/short')
    assert.deepEqual(a.messaging.adverts.advertised(), [])
    await waitFor(async () => await q.messaging.queryPeer('svc/short', a.id) === undefined, 15_000, 'the advertisement gone for readers')
  })
})

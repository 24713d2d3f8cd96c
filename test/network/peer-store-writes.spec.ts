/**
 * No peer-store write per stream when its protocol is already recorded
 * (src/network/peer-store-writes.ts). libp2p merges the protocol of every negotiated stream into
 * the peer store at both ends (a read, decode, encode and datastore write each): on real nodes
 * over loopback TCP, 20 pings from a to b wrote b's record at a 20 times before; this fails while
 * that happens. A stream of a protocol not yet recorded, or a record older than `refreshMs`, is
 * still written (the positive controls), and a protocol removed by a patch is written again.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { persistentPeerStore } from '@libp2p/peer-store'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { defaultLogger } from '@libp2p/logger'
import { MemoryDatastore } from 'datastore-core/memory'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { startNode, type TestNode } from './helpers.js'
import { waitFor } from '../helpers/wait.js'
import { peerStoreWritesStats, skipRedundantPeerWrites } from '../../src/network/peer-store-writes.js'
import type { PeerId } from '@libp2p/interface'

/** Counts datastore writes of `peer`'s peer-store record. */
function countRecordWrites (datastore: { put: (key: { toString(): string }, ...rest: unknown[]) => unknown }, peer: PeerId): () => number {
  const suffix = peer.toCID().toString().toUpperCase().slice(-20)
  let n = 0
  const put = datastore.put.bind(datastore)
  datastore.put = (key, ...rest) => {
    const k = key.toString()
    if (k.startsWith('/peers/') && k.toUpperCase().endsWith(suffix)) n++
    return put(key, ...rest)
  }
  return () => n
}

describe('network: redundant peer-store writes', () => {
  let a: TestNode | undefined
  let b: TestNode | undefined
  before(async () => {
    a = await startNode({ 'network.connectionManager.minConnections': 0 })
    b = await startNode({ 'network.connectionManager.minConnections': 0 })
    await a.net.dial(b.net.host.getMultiaddrs()[0]!)
  })
  after(async () => { await Promise.all([a, b].map(async n => { await n?.stop() })) })

  it('streams of a recorded protocol do not rewrite the peer record; a new protocol is written', { timeout: 30_000 }, async () => {
    const host = a!.net.host
    const bId = b!.net.peerId
    const datastore = (host as unknown as { components: { datastore: Parameters<typeof countRecordWrites>[0] } }).components.datastore
    const stats = peerStoreWritesStats(host.peerStore) ?? assert.fail('the host peer store is not wrapped')
    await host.services.ping.ping(bId) // the first ping stream records the protocol
    const writes = countRecordWrites(datastore, bId)
    const skipped = stats.skipped
    for (let i = 0; i < 20; i++) await host.services.ping.ping(bId)
    assert.ok(stats.skipped >= skipped + 20, `skipped ${stats.skipped - skipped} of 20 merges`)
    // other parts of a young connection (identify, kad-dht's tags) may write b's record meanwhile;
    // the streams themselves wrote it 20 times before
    assert.ok(writes() <= 3, `b's record was written ${writes()} times during 20 pings`)
    // positive control: a protocol not recorded yet is written, and then known
    const FRESH = '/dmsnet-test/fresh/1.0.0'
    await b!.net.host.handle(FRESH, async (stream) => { await stream.close() })
    const s = await host.dialProtocol(bId, FRESH)
    await s.close()
    await waitFor(async () => (await host.peerStore.get(bId)).protocols.includes(FRESH), 5000, 'the new protocol in the peer store')
    assert.ok(writes() >= 1, 'the new protocol was written')
  })

  it('skips merges of addresses already recorded (DHT responses); a new address, and one dropped by a signed peer record, are written', async () => {
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const otherKey = await generateKeyPair('Ed25519')
    const other = peerIdFromPrivateKey(otherKey)
    const datastore = new MemoryDatastore()
    const store = persistentPeerStore({ peerId: self, datastore, events: new TypedEventEmitter(), logger: defaultLogger() })
    const writes = countRecordWrites(datastore as unknown as Parameters<typeof countRecordWrites>[0], other)
    const stats = skipRedundantPeerWrites(store, { refreshMs: 60_000 })
    const a1 = multiaddr('/ip4/10.0.0.1/tcp/4001')
    const a2 = multiaddr('/ip4/10.0.0.2/tcp/4001')
    const a3 = multiaddr('/ip4/10.0.0.3/tcp/4001')
    await store.merge(other, { multiaddrs: [a1] })
    await store.merge(other, { multiaddrs: [a1] }) // what every DHT response naming `other` did
    await store.merge(other, { multiaddrs: [a1], protocols: [] })
    assert.deepEqual([writes(), stats.skipped], [1, 2], 'record writes / merges skipped')
    await store.merge(other, { multiaddrs: [a1, a2] }) // control: a new address is written
    assert.equal(writes(), 2)
    assert.deepEqual((await store.get(other)).addresses.map(a => a.multiaddr.toString()).sort(), [a1, a2].map(String))
    // a signed peer record replaces the addresses behind the wrapper's back: a1 must be written again
    const envelope = await RecordEnvelope.seal(new PeerRecord({ peerId: other, multiaddrs: [a3] }), otherKey)
    assert.equal(await store.consumePeerRecord(envelope.marshal(), { expectedPeer: other }), true)
    assert.deepEqual((await store.get(other)).addresses.map(a => a.multiaddr.toString()), [a3.toString()])
    await store.merge(other, { multiaddrs: [a1] })
    assert.ok((await store.get(other)).addresses.some(a => a.multiaddr.equals(a1)), 'a1 recorded again after the signed record')
  })

  it('writes again after refreshMs, after a patch that dropped the protocol, and after a delete', async () => {
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const makeStore = (refreshMs: number): { store: ReturnType<typeof persistentPeerStore>, writes: () => number, stats: ReturnType<typeof skipRedundantPeerWrites> } => {
      const datastore = new MemoryDatastore()
      const store = persistentPeerStore({ peerId: self, datastore, events: new TypedEventEmitter(), logger: defaultLogger() })
      const writes = countRecordWrites(datastore as unknown as Parameters<typeof countRecordWrites>[0], other)
      return { store, writes, stats: skipRedundantPeerWrites(store, { refreshMs }) }
    }
    const { store, writes, stats } = makeStore(60_000)
    await store.merge(other, { protocols: ['/p/1'] })
    await store.merge(other, { protocols: ['/p/1'] })
    assert.deepEqual([writes(), stats.skipped], [1, 1])
    // identify replaces the protocol list: the next stream of /p/1 must record it again
    await store.patch(other, { protocols: ['/p/2'] })
    await store.merge(other, { protocols: ['/p/1'] })
    assert.deepEqual((await store.get(other)).protocols, ['/p/1', '/p/2'])
    assert.equal(writes(), 3)
    await store.delete(other)
    await store.merge(other, { protocols: ['/p/1'] })
    assert.deepEqual((await store.get(other)).protocols, ['/p/1'])
    // a merge carrying more than protocols is always written
    await store.merge(other, { protocols: ['/p/1'], tags: { t: { value: 1 } } })
    assert.equal(writes(), 5)
    // memory older than refreshMs: written even though nothing changes (keeps `updated` fresh)
    const stale = makeStore(0)
    await stale.store.merge(other, { protocols: ['/p/1'] })
    await stale.store.merge(other, { protocols: ['/p/1'] })
    assert.deepEqual([stale.writes(), stale.stats.skipped], [2, 0])
  })
})

/**
 * kad-dht's answers from a short-lived cache of peer records (src/network/peer-info-cache.ts,
 * issue 10). On real js-libp2p nodes over loopback TCP: A (DHT server) knows C1-C3; B asks A for
 * the closest peers to a key again and again, as every peer of a bootstrap node does. Each answer
 * read the records of C1-C3 from A's peer store (lock, datastore read, decode, multiaddr parsing);
 * now the reads within 5 s of the first come from memory. The control in the same test: a write
 * of C1's record at A (a new address) shows up in A's very next answer.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { startNode, type TestNode } from './helpers.js'
import { waitFor } from '../helpers/wait.js'
import { peerInfoCacheStats } from '../../src/network/peer-info-cache.js'
import type { PeerInfo } from '@libp2p/interface'

const OFF = { 'network.connectionManager.minConnections': 0 }
const rtSize = (n: TestNode): number => (n.net.dht as unknown as { routingTable?: { size: number } }).routingTable?.size ?? 0
const KEY = new TextEncoder().encode('dmsnet-test/peer-info-cache')

/** A's answer (closer peers) to one lookup of KEY from `b`; the lookup is abandoned after it. */
async function answerOfA (a: TestNode, b: TestNode): Promise<PeerInfo[]> {
  for await (const ev of b.net.dht.getClosestPeers(KEY, { signal: AbortSignal.timeout(20_000) })) {
    if (ev.name === 'PEER_RESPONSE' && ev.from.equals(a.net.peerId)) return ev.closer
  }
  assert.fail('the lookup ended without an answer from A')
}

describe('network: peer record cache behind DHT answers', () => {
  let a: TestNode | undefined
  let b: TestNode | undefined
  let cs: TestNode[] = []
  before(async () => {
    a = await startNode(OFF)
    cs = await Promise.all([0, 1, 2].map(async () => await startNode(OFF)))
    b = await startNode({ ...OFF, 'network.dht.mode': 'client' })
    for (const n of [...cs, b]) await n.net.dial(a.net.host.getMultiaddrs()[0]!)
    await waitFor(() => rtSize(a!) >= 3 && rtSize(b!) >= 1, 20_000, 'A knows C1-C3 and B knows A (routing tables)')
  })
  after(async () => { await Promise.all([a, b, ...cs].map(async n => { await n?.stop() })) })

  it('answers repeated FIND_NODEs without re-reading the records; a write shows in the next answer', { timeout: 60_000 }, async () => {
    const store = a!.net.host.peerStore as unknown as { get: (id: { toString(): string }, ...x: unknown[]) => Promise<unknown> }
    const ids = new Set(cs.map(c => c.net.peerId.toString()))
    let reads = 0
    const get = store.get.bind(store)
    store.get = async (id: { toString(): string }, ...rest: unknown[]) => {
      if (ids.has(id.toString())) reads++
      return await get(id, ...rest)
    }
    const first = await answerOfA(a!, b!)
    assert.ok(cs.every(c => first.some(p => p.id.equals(c.net.peerId))), 'A answers with C1-C3')
    const stats = peerInfoCacheStats(a!.net.host.peerStore) ?? assert.fail('A\'s peer store has no record cache')
    const hits = stats.hits
    const t0 = Date.now()
    reads = 0
    for (let i = 0; i < 5; i++) {
      const answer = await answerOfA(a!, b!)
      assert.ok(cs.every(c => answer.some(p => p.id.equals(c.net.peerId))), `answer ${i + 2} still has C1-C3`)
    }
    // each 5-s window may read each record once (a loaded machine may stretch the 5 lookups)
    const allowed = 3 * Math.ceil((Date.now() - t0) / 5000)
    assert.ok(reads <= allowed, `A read C1-C3's records ${reads} times for 5 answers (at most ${allowed}; 15 without the cache)`)
    assert.ok(stats.hits >= hits + 15 - reads, `cache hits ${stats.hits - hits}`)
    // control: a write is seen at once
    const added = multiaddr('/ip4/127.0.0.2/tcp/4999')
    await a!.net.host.peerStore.merge(cs[0]!.net.peerId, { multiaddrs: [added] })
    const after = await answerOfA(a!, b!)
    const c1 = after.find(p => p.id.equals(cs[0]!.net.peerId)) ?? assert.fail('C1 missing from the answer after the write')
    assert.ok(c1.multiaddrs.some(m => m.equals(added)), `the address written at A is in its next answer: ${c1.multiaddrs.map(String).join(' ')}`)
  })
})

/**
 * The random-walk pacing (src/network/paced-walk.ts) as logic: backoff while lookups find nothing
 * new, reset on a new peer, abortable pause. The end-to-end proof with real daemons is
 * test/network/idle.spec.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pacedClosestPeers, pause } from '../../src/network/paced-walk.js'
import type { PeerId, PeerInfo } from '@libp2p/interface'

async function newPeer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** A routing whose every lookup yields `answer()`. */
function fakeRouting (answer: () => PeerInfo[]): { calls: number, getClosestPeers: () => AsyncGenerator<PeerInfo> } {
  const r = {
    calls: 0,
    async * getClosestPeers (): AsyncGenerator<PeerInfo> {
      r.calls++
      yield * answer()
    }
  }
  return r
}

async function drain (it: AsyncIterable<PeerInfo>): Promise<number> {
  let n = 0
  for await (const _ of it) n++
  return n
}

describe('paced random walk', () => {
  it('doubles the pause while lookups find only known peers, up to the ceiling', async () => {
    const known = await newPeer()
    const inner = fakeRouting(() => [{ id: known, multiaddrs: [] }])
    const paced = pacedClosestPeers(inner, { minIntervalMs: 10, maxIntervalMs: 40 }, () => true)
    const key = new Uint8Array(32)
    const intervals: number[] = []
    for (let i = 0; i < 4; i++) {
      assert.equal(await drain(paced.getClosestPeers(key)), 1)
      intervals.push(paced.stats.currentIntervalMs)
    }
    assert.deepEqual(intervals, [20, 40, 40, 40])
    assert.equal(paced.stats.iterations, 4)
    assert.equal(paced.stats.unproductive, 4)
    assert.equal(inner.calls, 4)
  })

  it('a lookup that finds a new peer resets the pause; the same unconnected peer again does not', async () => {
    const stranger = await newPeer()
    const inner = fakeRouting(() => [{ id: stranger, multiaddrs: [] }])
    const paced = pacedClosestPeers(inner, { minIntervalMs: 5, maxIntervalMs: 1000 }, () => false)
    const key = new Uint8Array(32)
    await drain(paced.getClosestPeers(key))
    assert.equal(paced.stats.currentIntervalMs, 5, 'first sighting of an unconnected peer is productive')
    await drain(paced.getClosestPeers(key))
    assert.equal(paced.stats.currentIntervalMs, 10, 'the same peer found again is nothing new')
    assert.equal(paced.stats.unproductive, 1)
  })

  it('the second lookup waits at least the pause', async () => {
    const inner = fakeRouting(() => [])
    const paced = pacedClosestPeers(inner, { minIntervalMs: 100, maxIntervalMs: 100 }, () => true)
    await drain(paced.getClosestPeers(new Uint8Array(32)))
    const t0 = performance.now()
    await drain(paced.getClosestPeers(new Uint8Array(32)))
    // a lower bound only (the timer cannot fire early); no upper bound on a shared machine
    assert.ok(performance.now() - t0 >= 95, 'the second lookup did not wait')
  })

  it('an aborted signal ends the pause with AbortedError and starts no lookup', async () => {
    const inner = fakeRouting(() => [])
    const paced = pacedClosestPeers(inner, { minIntervalMs: 60_000, maxIntervalMs: 60_000 }, () => true)
    await drain(paced.getClosestPeers(new Uint8Array(32)))
    const ac = new AbortController()
    const p = drain(paced.getClosestPeers(new Uint8Array(32), { signal: ac.signal }))
    ac.abort()
    await assert.rejects(p, { name: 'AbortedError' })
    assert.equal(inner.calls, 1)
    await assert.rejects(pause(10, AbortSignal.abort()), (err: Error) => err.name === 'AbortError' || err.name === 'AbortedError')
  })
})

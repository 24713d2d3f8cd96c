/**
 * The random-walk gate (src/network/walk-gate.ts) as logic: no lookup while the node has enough
 * connected peers, lookups again once it has fewer, a pause that keeps the walk's loop idle, and
 * the pause ends at once when the walk is aborted. The installation on a real host is exercised by
 * every daemon (and measured by bench/idle.ts --connect bootstrap).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { gatedClosestPeers } from '../../src/network/walk-gate.js'
import type { PeerInfo } from '@libp2p/interface'

async function drain (it: AsyncIterable<PeerInfo>): Promise<number> {
  let n = 0
  for await (const _ of it) n++
  return n
}

describe('random walk gate', () => {
  it('skips lookups while saturated and passes them through below the threshold', async () => {
    const peer = { id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')), multiaddrs: [] }
    let calls = 0
    const inner = { async * getClosestPeers (): AsyncGenerator<PeerInfo> { calls++; yield peer } }
    let connected = 20
    const gated = gatedClosestPeers(inner, { stopAtConnections: 16, checkIntervalMs: 20 }, () => connected)
    const t0 = Date.now()
    assert.equal(await drain(gated.getClosestPeers(new Uint8Array(32))), 0, 'nothing while saturated')
    assert.equal(await drain(gated.getClosestPeers(new Uint8Array(32))), 0)
    assert.ok(Date.now() - t0 >= 30, 'each skipped iteration waited (no busy loop)')
    assert.equal(calls, 0, 'no DHT lookup while saturated')
    assert.equal(gated.stats.skipped, 2)
    connected = 3 // positive control: below the threshold the lookup runs
    assert.equal(await drain(gated.getClosestPeers(new Uint8Array(32))), 1)
    assert.equal(calls, 1)
    assert.equal(gated.stats.passed, 1)
  })

  it('never gates with stopAtConnections 0, and its pause ends when the walk is aborted', async () => {
    let calls = 0
    const inner = { getClosestPeers: (): AsyncIterable<PeerInfo> => { calls++; return [] as unknown as AsyncIterable<PeerInfo> } }
    const open = gatedClosestPeers(inner, { stopAtConnections: 0, checkIntervalMs: 60_000 }, () => 1000)
    await drain(open.getClosestPeers(new Uint8Array(32)))
    assert.equal(calls, 1)
    const gated = gatedClosestPeers(inner, { stopAtConnections: 1, checkIntervalMs: 60_000 }, () => 5)
    const ac = new AbortController()
    const p = drain(gated.getClosestPeers(new Uint8Array(32), { signal: ac.signal }))
    ac.abort()
    await assert.rejects(p, { name: 'AbortedError' })
    assert.equal(calls, 1, 'the aborted iteration made no lookup')
  })
})

/**
 * A DHT lookup's parallelism (`network.dht.alpha`, `network.dht.disjointPaths`) on real js-libp2p
 * nodes over loopback TCP: the keys reach kad-dht and bound a lookup: with 3 in flight on one path
 * (closest first) a lookup of a connected peer asks at most 3 peers before it has its answer, where
 * kad-dht's own defaults (10 x 10, the positive control) start a request to every peer in the
 * routing table at once. On a busy node those parallel stream opens delayed the first answer by
 * seconds (docs/scale.md; the defaults are 3 x 3).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startNode, type TestNode } from './helpers.js'
import { waitFor } from '../helpers/wait.js'

const rtSize = (n: TestNode): number => (n.net.dht as unknown as { routingTable?: { size: number } }).routingTable?.size ?? 0

/**
 * SEND_QUERY and QUERY_ERROR events of one network lookup of `target` from `from`, until its
 * answer (a failed query frees its slot for another). A lookup that finds nothing (a query timed
 * out on a loaded machine) is made again, at most 3 times: this test is about how many run at once.
 */
async function queriesUntilFound (from: TestNode, target: TestNode): Promise<{ sent: number, failed: number }> {
  let last: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    let sent = 0
    let failed = 0
    try {
      for await (const ev of from.net.dht.findPeer(target.net.peerId, { useCache: false, signal: AbortSignal.timeout(20_000) })) {
        if (ev.name === 'SEND_QUERY') sent++
        if (ev.name === 'QUERY_ERROR') failed++
        if (ev.name === 'FINAL_PEER') return { sent, failed }
      }
    } catch (err) {
      last = err
    }
  }
  assert.fail(`three lookups ended without finding the target: ${String(last)}`)
}

describe('network: DHT lookup parallelism', () => {
  const OFF = { 'network.connectionManager.minConnections': 0 }
  let peers: TestNode[] = []
  let narrow: TestNode | undefined
  let wide: TestNode | undefined
  // the target is in the askers' routing tables, so a lookup would ask it alone first
  // (src/network/dht-direct.ts, test/network/dht-direct.spec.ts): this is about kad-dht's own paths
  const direct = process.env.DMSNET_DHT_DIRECT

  before(async () => {
    process.env.DMSNET_DHT_DIRECT = '0'
    peers = await Promise.all(Array.from({ length: 6 }, async () => await startNode(OFF)))
    narrow = await startNode({ ...OFF, 'network.dht.alpha': 3, 'network.dht.disjointPaths': 1 })
    wide = await startNode({ ...OFF, 'network.dht.alpha': 10, 'network.dht.disjointPaths': 10 })
    for (const n of [narrow, wide]) {
      // a dial on a loaded machine can time out in its Noise handshake: try again, 3 times at most
      for (const p of peers) {
        for (let attempt = 1; ; attempt++) {
          try { await n.net.dial(p.net.host.getMultiaddrs()[0]!); break } catch (err) { if (attempt >= 3) throw err }
        }
      }
    }
    await waitFor(() => rtSize(narrow!) >= 6 && rtSize(wide!) >= 6, 20_000, 'both askers have the 6 peers in their routing tables')
  })
  after(async () => {
    if (direct == null) delete process.env.DMSNET_DHT_DIRECT
    else process.env.DMSNET_DHT_DIRECT = direct
    await Promise.all([...peers, narrow, wide].map(async n => { await n?.stop() }))
  })

  it('a lookup asks at most alpha peers at once (the closest first) before it finds a connected peer; kad-dht\'s defaults ask all', { timeout: 60_000 }, async (t) => {
    const target = peers[5]!
    const narrow$ = await queriesUntilFound(narrow!, target)
    const wide$ = await queriesUntilFound(wide!, target)
    t.diagnostic(`queries before the answer: 3 x 1 ${narrow$.sent} (${narrow$.failed} failed), 10 x 10 ${wide$.sent} (${wide$.failed} failed)`)
    assert.ok(narrow$.sent >= 1 && narrow$.sent - narrow$.failed <= 3, `3 x 1: ${narrow$.sent} queries sent, ${narrow$.failed} failed, before the answer (at most 3 in flight)`)
    assert.ok(wide$.sent > 3, `positive control, alpha 10 x 10 paths: ${wide$.sent} queries sent before the answer (all at once)`)
  })
})

/**
 * No routing-table update job for a peer the routing table already holds
 * (src/network/dht-table-updates.ts, issue 10). On real js-libp2p nodes over loopback: B's lookups
 * get answers from A naming C and D; once B holds them, a lookup queues no update for them (kad-dht
 * queued one per peer per answer). The control in the same test: a newcomer E that A names is
 * still queued, pinged and added to B's table.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { tableUpdateStats, type TableUpdateStats } from '../../src/network/dht-table-updates.js'
import { startNode, type TestNode } from './helpers.js'
import { NO_KEEPER, holdsPeer, routingTable } from './dht-helpers.js'
import { waitFor } from '../helpers/wait.js'

const OFF = NO_KEEPER
const table = routingTable
const holds = holdsPeer
const updateStats = (n: TestNode): TableUpdateStats => tableUpdateStats(n.net.dht) ?? assert.fail('routing-table updates are not filtered (kad-dht internals moved?)')
const KEY = new TextEncoder().encode('dmsnet-test/dht-table-updates')

/** One full lookup from `n`; resolves with the peers the answers named. */
async function lookup (n: TestNode): Promise<Set<string>> {
  const named = new Set<string>()
  for await (const ev of n.net.dht.getClosestPeers(KEY, { signal: AbortSignal.timeout(20_000) })) {
    if (ev.name === 'PEER_RESPONSE') for (const p of ev.closer) named.add(p.id.toString())
  }
  return named
}

describe('network: routing-table updates of known peers', () => {
  let a: TestNode | undefined
  let b: TestNode | undefined
  let others: TestNode[] = []
  before(async () => {
    a = await startNode(OFF)
    others = await Promise.all([0, 1].map(async () => await startNode(OFF)))
    b = await startNode(OFF)
    for (const n of [...others, b]) await n.net.dial(a.net.host.getMultiaddrs()[0]!)
    await waitFor(() => table(a!).size >= 3, 20_000, 'A holds B, C and D')
  })
  after(async () => { await Promise.all([a, b, ...others].map(async n => { await n?.stop() })) })

  it('queues no update for a held peer; a new one is still queued and added', { timeout: 60_000 }, async () => {
    const st = updateStats(b!)
    await lookup(b!)
    await waitFor(async () => (await Promise.all(others.map(async c => await holds(b!, c)))).every(Boolean), 20_000, 'B holds C and D (from A\'s answer)')
    const queued = st.queued
    const skipped = st.skipped
    const named = await lookup(b!)
    assert.ok(others.every(c => named.has(c.net.peerId.toString())), 'the answers named C and D again')
    assert.equal(st.queued, queued, `no update queued for peers B holds: ${JSON.stringify(st)}`)
    assert.ok(st.skipped >= skipped + 2, `C and D skipped: ${JSON.stringify(st)}`)
    // the control: a peer B does not hold is queued, pinged and added as before
    const e = await startNode(OFF)
    others.push(e)
    await e.net.dial(a!.net.host.getMultiaddrs()[0]!)
    await waitFor(async () => await holds(a!, e), 20_000, 'A holds E')
    const named2 = await lookup(b!)
    assert.ok(named2.has(e.net.peerId.toString()), 'A named E')
    assert.ok(st.queued > queued, 'E was queued')
    await waitFor(async () => await holds(b!, e), 20_000, 'B holds E')
  })
})

/**
 * kad-dht's self-query, paced (src/network/dht-self-query.ts, issue 10). The rule alone, then on
 * real js-libp2p nodes over loopback: A's self-queries among peers it already holds are quiet and
 * each doubles the period (kad-dht would query every `querySelfIntervalMs` for ever); the control in
 * the same test, a newcomer E that only B knows, is named in B's answer to A's next self-query,
 * which puts the period back to its base, and E lands in A's routing table.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { nextSelfQueryInterval, selfQueryPaceStats, type SelfQueryPaceStats } from '../../src/network/dht-self-query.js'
import { startNode, type TestNode } from './helpers.js'
import { NO_KEEPER, holdsPeer, newcomerKnownOnlyTo, routingTable } from './dht-helpers.js'
import { waitFor } from '../helpers/wait.js'

describe('network: self-query period rule', () => {
  it('doubles while quiet up to the ceiling, back to base when novel, unchanged when unanswered', () => {
    const init = { intervalMs: 100, maxIntervalMs: 350 }
    assert.equal(nextSelfQueryInterval(100, 'quiet', init), 200)
    assert.equal(nextSelfQueryInterval(200, 'quiet', init), 350)
    assert.equal(nextSelfQueryInterval(350, 'quiet', init), 350)
    assert.equal(nextSelfQueryInterval(350, 'novel', init), 100)
    assert.equal(nextSelfQueryInterval(200, 'unanswered', init), 200)
  })
})

const OFF = NO_KEEPER
const BASE = 400
const table = routingTable
const holds = holdsPeer
const paceStats = (n: TestNode): SelfQueryPaceStats => selfQueryPaceStats(n.net.dht) ?? assert.fail('the self-query is not paced (kad-dht internals moved?)')

describe('network: self-query on real nodes', () => {
  let a: TestNode | undefined
  let others: TestNode[] = []
  before(async () => {
    a = await startNode({ ...OFF, 'network.dht.querySelfIntervalMs': BASE, 'network.dht.upkeepMaxIntervalMs': 8 * BASE })
    others = await Promise.all([0, 1].map(async () => await startNode(OFF)))
    for (const n of others) await n.net.dial(a.net.host.getMultiaddrs()[0]!)
    await waitFor(() => table(a!).size >= 2, 20_000, 'A holds B and C')
  })
  after(async () => { await Promise.all([a, ...others].map(async n => { await n?.stop() })) })

  it('quiet self-queries lengthen the period; a newcomer in an answer resets it', { timeout: 60_000 }, async () => {
    const st = paceStats(a!)
    await waitFor(() => st.intervalMs >= 4 * BASE, 20_000, 'two quiet self-queries in a row (period 4x base)')
    assert.ok(st.quiet >= 2, JSON.stringify(st))
    // the control: E, known only to B (E's self-query is stopped, so E asks nobody else)
    const e = await newcomerKnownOnlyTo(others[0]!, a!, others)
    await waitFor(() => st.intervalMs === BASE, 20_000, 'a novel self-query (B named E): period back to base')
    await waitFor(async () => await holds(a!, e), 20_000, 'A holds E')
  })
})

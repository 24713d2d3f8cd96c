/**
 * kad-dht's routing-table refresh, paced (src/network/dht-refresh.ts, issue 10). The scheduler's
 * rules on a fake target (one lookup at a time, every CPL in turn, the period doubling while
 * lookups find nobody new and reset by one that does, stop aborting the lookup in flight); then
 * on real js-libp2p nodes over loopback with `network.dht.refreshIntervalMs` set: the refresh runs
 * at start (kad-dht 16.4 never starts its own), a refresh among peers A already holds is quiet and
 * lengthens the period, and the control in the same test, a newcomer that only B knows, makes A's
 * next refresh novel (period back to its base) and lands in A's routing table.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createRefreshScheduler, tableRefreshStats, type TableRefreshStats } from '../../src/network/dht-refresh.js'
import { startNode, type TestNode } from './helpers.js'
import { NO_KEEPER, holdsPeer, newcomerKnownOnlyTo, routingTable } from './dht-helpers.js'
import { pause, waitFor } from '../helpers/wait.js'

describe('network: routing-table refresh scheduler', () => {
  it('runs one lookup at a time and visits every CPL', { timeout: 20_000 }, async () => {
    let inFlight = 0
    let most = 0
    const seen: number[] = []
    const s = createRefreshScheduler({
      maxCommonPrefix: () => 3,
      refresh: async (cpl) => {
        inFlight++
        most = Math.max(most, inFlight)
        seen.push(cpl)
        await pause(20) // a lookup that takes a while, so overlapping ones would show
        inFlight--
        return 'novel'
      }
    }, { intervalMs: 60_000, maxIntervalMs: 60_000, gapMs: 5 })
    s.start()
    await waitFor(() => seen.length >= 4, 10_000, 'a refresh of each of the 4 CPLs')
    s.stop()
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3])
    assert.equal(most, 1, 'never two refresh lookups at once (kad-dht starts all CPLs together)')
    assert.equal(s.stats.maxInFlight, 1)
  })

  it('doubles a quiet CPL\'s period up to the ceiling and resets it after a novel lookup', { timeout: 20_000 }, async () => {
    let outcome: 'novel' | 'quiet' | 'unanswered' = 'quiet'
    const s = createRefreshScheduler({ maxCommonPrefix: () => 0, refresh: async () => outcome }, { intervalMs: 40, maxIntervalMs: 160, gapMs: 1, random: () => 0.5 })
    s.start()
    await waitFor(() => s.stats.quiet >= 4, 10_000, 'four quiet refreshes')
    assert.equal(s.stats.intervalsMs[0], 160, `40 -> 80 -> 160, capped at 160: ${s.stats.intervalsMs[0]}`)
    outcome = 'novel'
    let n = s.stats.ended
    await waitFor(() => s.stats.ended > n, 10_000, 'the next refresh')
    assert.equal(s.stats.intervalsMs[0], 40, 'a lookup that found a new peer puts the period back to its base')
    outcome = 'quiet'
    n = s.stats.ended
    await waitFor(() => s.stats.ended > n, 10_000, 'a quiet refresh')
    outcome = 'unanswered'
    n = s.stats.ended
    await waitFor(() => s.stats.ended > n + 1, 10_000, 'two unanswered refreshes')
    assert.equal(s.stats.intervalsMs[0], 80, 'a lookup nobody answered leaves the period')
    s.stop()
  })

  it('stop aborts the lookup in flight and starts no other', { timeout: 20_000 }, async () => {
    let aborted = 0
    let calls = 0
    const s = createRefreshScheduler({
      maxCommonPrefix: () => 2,
      refresh: async (_cpl, signal) => {
        calls++
        await new Promise<void>(resolve => { signal.addEventListener('abort', () => { aborted++; resolve() }, { once: true }) })
        return 'quiet'
      }
    }, { intervalMs: 50, maxIntervalMs: 50, gapMs: 1 })
    s.start()
    await waitFor(() => calls === 1, 10_000, 'the first lookup')
    s.stop()
    assert.equal(aborted, 1)
    await pause(200) // a window in which a running scheduler would have started the other two CPLs (gap 1 ms)
    assert.equal(calls, 1, 'no lookup after stop')
  })
})

const OFF = NO_KEEPER
const BASE = 16_000
const table = routingTable
const holds = holdsPeer
const refreshStats = (n: TestNode): TableRefreshStats => tableRefreshStats(n.net.dht) ?? assert.fail('the refresh is not paced (kad-dht internals moved?)')

/** Forces A's refresh (kad-dht's refreshRoutingTable) and waits until it ran and nothing is in flight. */
async function forcedRefresh (a: TestNode): Promise<TableRefreshStats> {
  const st = refreshStats(a)
  const ended = st.ended
  await a.net.dht.refreshRoutingTable()
  await waitFor(() => st.ended > ended, 20_000, 'A\'s forced refresh')
  return st
}

describe('network: kad-dht\'s own routing-table refresh', () => {
  it('is never started by kad-dht (not Startable): with the default config no node refreshes on a timer', { timeout: 30_000 }, async () => {
    const n = await startNode(OFF)
    try {
      const r = (n.net.dht as unknown as { routingTableRefresh: { start?: unknown, stop?: unknown, afterStart?: unknown } }).routingTableRefresh
      // if this fails, kad-dht starts its refresh now (every CPL at once every 5 min): see src/network/dht-refresh.ts
      assert.equal(typeof r.start, 'undefined', 'kad-dht\'s RoutingTableRefresh has no start()')
      assert.equal(typeof r.afterStart, 'function')
      assert.equal(tableRefreshStats(n.net.dht), undefined, 'not paced either: refreshIntervalMs is 0 by default')
    } finally {
      await n.stop()
    }
  })
})

describe('network: routing-table refresh on real nodes', () => {
  let a: TestNode | undefined
  let others: TestNode[] = []
  before(async () => {
    a = await startNode({ ...OFF, 'network.dht.refreshIntervalMs': BASE })
    others = await Promise.all([0, 1, 2].map(async () => await startNode(OFF)))
    for (const n of others) await n.net.dial(a.net.host.getMultiaddrs()[0]!)
    await waitFor(() => table(a!).size >= 3, 20_000, 'A holds B, C and D')
    await waitFor(() => refreshStats(a!).ended >= 1, 20_000, 'A\'s refresh at start')
  })
  after(async () => { await Promise.all([a, ...others].map(async n => { await n?.stop() })) })

  it('a refresh that finds nobody new lengthens the period; a newcomer in an answer resets it', { timeout: 60_000 }, async () => {
    const st = refreshStats(a!)
    const quiet = st.quiet
    await forcedRefresh(a!)
    assert.ok(st.quiet > quiet, `a quiet refresh (every peer named is in A's table): ${JSON.stringify(st)}`)
    assert.ok(st.intervalsMs[0]! >= 2 * BASE, `period doubled: ${st.intervalsMs[0]}`)
    // the control: E, known only to B (E's self-query is stopped, so E asks nobody else)
    const e = await newcomerKnownOnlyTo(others[0]!, a!, others)
    const novel = st.novel
    await forcedRefresh(a!)
    assert.ok(st.novel > novel, `a novel refresh (B named E): ${JSON.stringify(st)}`)
    assert.equal(st.intervalsMs[0], BASE, 'period back to base')
    await waitFor(async () => await holds(a!, e), 20_000, 'A holds E')
    assert.equal(st.maxInFlight, 1, 'one refresh lookup at a time')
  })
})

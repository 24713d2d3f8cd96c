/**
 * Test helpers for kad-dht's routing table on real test nodes (the dht-refresh, dht-self-query
 * and dht-table-updates specs): its size, whether it holds a peer, and stopping a node's
 * self-query so that it tells nobody about itself.
 */
import assert from 'node:assert/strict'
import { startNode, type TestNode } from './helpers.js'
import { waitFor } from '../helpers/wait.js'
import type { PeerId } from '@libp2p/interface'

/** No keeper dials: a test's nodes meet only whom the test connects. */
export const NO_KEEPER = { 'network.connectionManager.minConnections': 0 }

interface TableLike { find?: (p: PeerId) => Promise<PeerId | undefined>, size: number }

/** kad-dht's routing table of `n`. */
export const routingTable = (n: TestNode): TableLike => (n.net.dht as unknown as { routingTable: TableLike }).routingTable

/** Whether `n`'s routing table holds `p`. */
export const holdsPeer = async (n: TestNode, p: TestNode): Promise<boolean> => (await routingTable(n).find?.(p.net.peerId)) != null

/** kad-dht's self-query of `n` stopped (its first one waits for a peer and would then tell others about `n`). */
export const stopSelfQuery = (n: TestNode): void => { (n.net.dht as unknown as { querySelf: { stop(): void } }).querySelf.stop() }

/**
 * kad-dht holds every lookup until the first self-query has run; a node whose self-query is stopped
 * before it ran (so that it asks nobody around and dials nobody) may still look up after this.
 */
export const releaseLookups = (n: TestNode): void => {
  (n.net.dht as unknown as { queryManager: { initialQuerySelfHasRun?: { resolve(): void } } }).queryManager.initialQuerySelfHasRun?.resolve()
}

/**
 * The positive control of the upkeep specs: a new node E that only `b` knows (E's self-query is
 * stopped, so it tells nobody else), checked not yet in `a`'s table. E is pushed onto `others` so
 * that the spec's `after` stops it.
 */
export async function newcomerKnownOnlyTo (b: TestNode, a: TestNode, others: TestNode[]): Promise<TestNode> {
  const e = await startNode(NO_KEEPER)
  others.push(e)
  stopSelfQuery(e)
  await e.net.dial(b.net.host.getMultiaddrs()[0]!)
  await waitFor(async () => await holdsPeer(b, e), 20_000, 'B holds E')
  assert.equal(await holdsPeer(a, e), false, 'A does not know E yet')
  return e
}

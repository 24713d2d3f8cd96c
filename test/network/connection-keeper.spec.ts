/**
 * The connection keeper (src/network/connection-keeper.ts) on real js-libp2p nodes over loopback
 * TCP: a node that knows peers (peer store) but is not connected to them is brought up to its
 * minimum and no further, re-dials after losing one, backs off from a peer that cannot be dialed,
 * and the config key `network.connectionManager.minConnections` turns it on in a Network. Above
 * the high-water mark it closes the least valued connections down to the low-water mark, never
 * keep-alive peers nor connections inside the grace period (`highWater`/`lowWater`/`trimGracePeriodMs`).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { connectedPeers, startConnectionKeeper, type KeeperHost } from '../../src/network/connection-keeper.js'
import { startNode, waitFor, type TestNode } from './helpers.js'
import { pause } from '../helpers/wait.js'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Keeper off, and DHT clients: a DHT server tags its closest peers keep-alive and libp2p then
 * re-dials them by itself, which would hide what the keeper does.
 */
const OFF = { 'network.connectionManager.minConnections': 0, 'network.connectionManager.highWater': 0, 'network.dht.mode': 'client' }

/** Puts `peers`' addresses into `node`'s peer store without dialing them. */
async function teach (node: TestNode, peers: Array<{ id: TestNode['net']['peerId'], addrs: Multiaddr[] }>): Promise<void> {
  for (const p of peers) await node.net.host.peerStore.merge(p.id, { multiaddrs: p.addrs })
}

const infoOf = (n: TestNode): { id: TestNode['net']['peerId'], addrs: Multiaddr[] } => ({ id: n.net.peerId, addrs: n.net.host.getMultiaddrs() })
const connectedCount = (n: TestNode): number => connectedPeers(n.net.host.getConnections()).size

describe('network: connection keeper', () => {
  let others: TestNode[] = []
  /** A peer whose address nobody listens on any more (stopped). */
  let dead: { id: TestNode['net']['peerId'], addrs: Multiaddr[] }

  before(async () => {
    others = await Promise.all(Array.from({ length: 4 }, async () => await startNode(OFF)))
    const gone = await startNode(OFF)
    dead = infoOf(gone)
    await gone.stop()
  })
  after(async () => { await Promise.all(others.map(async n => { await n.stop() })) })

  it('dials known peers up to the minimum and no further, and re-dials after a loss', async () => {
    const a = await startNode(OFF)
    await teach(a, others.map(infoOf))
    assert.equal(connectedCount(a), 0, 'knowing peers does not connect (no keeper yet)')
    const keeper = startConnectionKeeper(a.net.host, { minConnections: 3, intervalMs: 150, maxDialsPerCheck: 4, dialTimeoutMs: 5000 })
    try {
      await waitFor(() => connectedCount(a) >= 3, 10_000, 'A connected to 3 peers')
      const checks = keeper.stats().checks
      await waitFor(() => keeper.stats().checks >= checks + 4, 5000, 'four more checks at the minimum')
      assert.equal(connectedCount(a), 3, 'no dial beyond the minimum (a 4th peer was known and reachable)')
      assert.equal(keeper.stats().dials, 3)
      const lost = [...connectedPeers(a.net.host.getConnections())][0]!
      await a.net.hangUp(lost)
      await waitFor(() => keeper.stats().dials === 4 && connectedCount(a) === 3, 10_000, 'A back at 3 peers after losing one')
      assert.equal(keeper.stats().dialFailures, 0)
    } finally {
      keeper.stop()
      await a.stop()
    }
  })

  it('backs off from a peer that cannot be dialed instead of dialing it every check', async () => {
    const a = await startNode(OFF)
    await teach(a, [infoOf(others[0]!), dead])
    // asks for more than exist: the live peer is the positive control, the dead one must not loop
    const keeper = startConnectionKeeper(a.net.host, { minConnections: 3, intervalMs: 100, maxDialsPerCheck: 4, dialTimeoutMs: 3000, backoffMs: 60_000 })
    try {
      await waitFor(() => a.net.isConnected(others[0]!.net.peerId) && keeper.stats().dialFailures === 1, 10_000, 'live peer connected, dead one failed once')
      const checks = keeper.stats().checks
      await waitFor(() => keeper.stats().checks >= checks + 5, 5000, 'five more checks below the minimum')
      assert.equal(keeper.stats().dialFailures, 1, 'the dead peer is not dialed again during its backoff')
      assert.equal(keeper.stats().backingOff, 1)
      assert.ok(keeper.stats().below >= 5, 'the checks saw the node below its minimum')
    } finally {
      keeper.stop()
      await a.stop()
    }
    const dials = keeper.stats().dials
    await pause(300) // a period in which a running keeper would check twice: nothing may happen after stop
    assert.equal(keeper.stats().dials, dials)
  })

  it('runs in every Network from network.connectionManager.minConnections', async () => {
    const a = await startNode({ ...OFF, 'network.connectionManager.minConnections': 2, 'network.connectionManager.keeperIntervalMs': 200 })
    try {
      await teach(a, others.slice(0, 2).map(infoOf))
      await waitFor(() => others.slice(0, 2).every(o => a.net.isConnected(o.net.peerId)), 10_000, 'A keeps 2 peers from config')
    } finally {
      await a.stop()
    }
  })

  it('closes the least valued connections above the high-water mark, sparing keep-alive and young ones', async () => {
    const a = await startNode(OFF)
    const keepers: Array<ReturnType<typeof startConnectionKeeper>> = []
    try {
      await teach(a, others.map(infoOf))
      for (const o of others) await a.net.host.dial(o.net.peerId)
      await waitFor(() => connectedCount(a) === 4, 10_000, 'A connected to all 4')
      // kad-dht's own keep-alive tag: libp2p re-dials any `keep-alive*` peer, so it must stay
      await a.net.host.peerStore.merge(others[0]!.net.peerId, { tags: { 'keep-alive-kad-dht': { value: 1 } } })
      await a.net.host.peerStore.merge(others[1]!.net.peerId, { tags: { 'test-valued': { value: 100 } } })
      // inside the grace period nothing is closed, however far above the mark
      const young = startConnectionKeeper(a.net.host, { minConnections: 0, intervalMs: 100, maxDialsPerCheck: 4, dialTimeoutMs: 5000, highWater: 2, lowWater: 2, gracePeriodMs: 600_000 })
      keepers.push(young)
      await waitFor(() => young.stats().checks >= 4, 5000, 'four checks with young connections')
      assert.equal(young.stats().trimmed, 0)
      assert.equal(connectedCount(a), 4)
      young.stop()
      const keeper = startConnectionKeeper(a.net.host, { minConnections: 0, intervalMs: 100, maxDialsPerCheck: 4, dialTimeoutMs: 5000, highWater: 3, lowWater: 2, gracePeriodMs: 0 })
      keepers.push(keeper)
      await waitFor(() => connectedCount(a) === 2, 10_000, 'A trimmed down to the low-water mark')
      assert.deepEqual([...connectedPeers(a.net.host.getConnections())].sort(), [others[0]!, others[1]!].map(o => o.net.peerId.toString()).sort(), 'the keep-alive and the valued peer stay')
      assert.equal(keeper.stats().trimmed, 2)
      const checks = keeper.stats().checks
      await waitFor(() => keeper.stats().checks >= checks + 3, 5000, 'three more checks at the low-water mark')
      assert.equal(keeper.stats().trimmed, 2, 'nothing more closed below the high-water mark')
      // trimmed peers that come back (the other side re-dialled) are not trimmed again: with both
      // back, 4 peers, only the valued one may go, although the returning two have the lowest value
      for (const o of [others[2]!, others[3]!]) await a.net.host.dial(o.net.peerId)
      await waitFor(() => keeper.stats().trimmed === 3, 10_000, 'one more trimmed')
      assert.ok([others[0]!, others[2]!, others[3]!].every(o => a.net.isConnected(o.net.peerId)), 'keep-alive and both returning peers stay')
      assert.ok(!a.net.isConnected(others[1]!.net.peerId), 'the only peer not exempt went')
    } finally {
      for (const k of keepers) k.stop()
      await a.stop()
    }
  })

  it('never trims a connection that carries a VPN stream; the others go in the same check', async () => {
    const a = await startNode(OFF)
    const proto = '/dmsnet/vpn/1.0.0/trim-test'
    const held: Array<{ close: () => Promise<void> }> = []
    await others[2]!.net.handle(proto, (stream) => { held.push(stream) })
    let keeper: ReturnType<typeof startConnectionKeeper> | undefined
    try {
      await teach(a, others.map(infoOf))
      for (const o of others) await a.net.host.dial(o.net.peerId)
      await waitFor(() => connectedCount(a) === 4, 10_000, 'A connected to all 4')
      const link = await a.net.dialProtocol(others[2]!.net.host.getMultiaddrs()[0]!, proto)
      keeper = startConnectionKeeper(a.net.host, { minConnections: 0, intervalMs: 100, maxDialsPerCheck: 4, dialTimeoutMs: 5000, highWater: 1, lowWater: 1, gracePeriodMs: 0 })
      await waitFor(() => keeper!.stats().trimmed === 3, 10_000, 'the three peers without a VPN stream trimmed')
      assert.deepEqual([...connectedPeers(a.net.host.getConnections())], [others[2]!.net.peerId.toString()], 'only the VPN link stays')
      assert.equal(link.status, 'open')
      const checks = keeper.stats().checks
      await waitFor(() => keeper!.stats().checks >= checks + 3, 5000, 'three more checks')
      assert.ok(a.net.isConnected(others[2]!.net.peerId), 'still connected although A is at the high-water mark')
    } finally {
      keeper?.stop()
      await others[2]!.net.unhandle(proto)
      await Promise.all(held.map(async s => { await s.close().catch(() => {}) }))
      await a.stop()
    }
  })

  it('above the mark, reads no peer record while no peer could go, and kept peers\' tags once a minute; a new candidate is read and trimmed', async () => {
    const a = await startNode(OFF)
    const keepers: Array<ReturnType<typeof startConnectionKeeper>> = []
    // the keeper's own peer-store reads (issue 10: a bootstrap above the mark read all its
    // ~100-200 records every 10 s, to close nothing)
    let reads = 0
    const host = a.net.host
    const counted: KeeperHost = {
      peerId: host.peerId,
      getConnections: () => host.getConnections(),
      dial: async (peer, options) => await host.dial(peer, options),
      peerStore: {
        all: async () => { reads++; return await host.peerStore.all() },
        get: async (peer) => { reads++; return await host.peerStore.get(peer) }
      }
    }
    try {
      await teach(a, others.map(infoOf))
      for (const o of others.slice(0, 3)) await a.net.host.dial(o.net.peerId)
      await waitFor(() => connectedCount(a) === 3, 10_000, 'A connected to 3')
      // all young: nothing can go, and nothing is read
      const young = startConnectionKeeper(counted, { minConnections: 0, intervalMs: 50, maxDialsPerCheck: 4, dialTimeoutMs: 5000, highWater: 1, lowWater: 1, gracePeriodMs: 600_000 })
      keepers.push(young)
      reads = 0
      await waitFor(() => young.stats().checks >= 6, 5000, 'six checks above the mark with young connections')
      young.stop()
      assert.deepEqual([reads, young.stats().storeReads, young.stats().trimmed], [0, 0, 0], 'peer-store reads / reading checks / trimmed while every connection is young')
      // all keep-alive: the first check reads their tags and keeps them, the next ones trust it
      for (const o of others.slice(0, 3)) await a.net.host.peerStore.merge(o.net.peerId, { tags: { 'keep-alive-kad-dht': { value: 1 } } })
      const keeper = startConnectionKeeper(counted, { minConnections: 0, intervalMs: 50, maxDialsPerCheck: 4, dialTimeoutMs: 5000, highWater: 1, lowWater: 1, gracePeriodMs: 0 })
      keepers.push(keeper)
      reads = 0
      await waitFor(() => keeper.stats().checks >= 8, 5000, 'eight checks with only keep-alive peers')
      assert.equal(keeper.stats().storeReads, 1, 'one check read the tags')
      assert.equal(reads, 3, 'one read of each keep-alive peer\'s record')
      assert.equal(keeper.stats().trimmed, 0)
      // control: a new peer (no tag) changes the candidates: read at once and trimmed
      await a.net.host.dial(others[3]!.net.peerId)
      await waitFor(() => keeper.stats().trimmed === 1, 10_000, 'the untagged newcomer trimmed')
      const checks = keeper.stats().checks
      await waitFor(() => keeper.stats().checks >= checks + 6, 5000, 'six more checks after the trim')
      // the newcomer's check, and one more after it (the candidates changed again), then trusted
      assert.equal(keeper.stats().storeReads, 3)
      assert.ok(!a.net.isConnected(others[3]!.net.peerId), 'the newcomer went')
      assert.ok(others.slice(0, 3).every(o => a.net.isConnected(o.net.peerId)), 'the keep-alive peers stay')
    } finally {
      for (const k of keepers) k.stop()
      await a.stop()
    }
  })

  it('trims in every Network from network.connectionManager.highWater/lowWater/trimGracePeriodMs', async () => {
    const a = await startNode({ ...OFF, 'network.connectionManager.highWater': 2, 'network.connectionManager.lowWater': 1, 'network.connectionManager.trimGracePeriodMs': 1, 'network.connectionManager.keeperIntervalMs': 200 })
    try {
      await teach(a, others.slice(0, 3).map(infoOf))
      for (const o of others.slice(0, 3)) await a.net.host.dial(o.net.peerId)
      await waitFor(() => connectedCount(a) === 1, 10_000, 'A trimmed from 3 peers to 1 by its config')
    } finally {
      await a.stop()
    }
  })
})

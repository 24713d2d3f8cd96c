/**
 * Bids when the orchestrator turns bidders' connections away: every bidder answers a bid request
 * at once and most must dial the orchestrator first, so a busy orchestrator (its inbound
 * connection limits, a reset) refuses some of them. Real nodes over loopback TCP: the
 * orchestrator and the bidders only know each other through a hub that relays the jobs topic;
 * the bidders learn where it listens from the bid request itself; the orchestrator's deny list
 * refuses the bidders' connections until each has been refused once. A bid server that gives up after one try loses every bid (the control); the default one
 * tries again until the deadline and every bid arrives, each reported as delivered.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { MAX_BIDS_PER_REQUEST, type BidResult, type BidServer } from '../../src/messaging/jobs.js'
import { waitFor } from '../network/helpers.js'
import { startMsgNode, stopAll, type MsgNode } from './helpers.js'

const BIDDERS = 4
// gossipsub forwards a message only to its mesh peers: a hub that just subscribed forwards to
// nobody until its heartbeat has grafted the bidders
interface Mesh { getMeshPeers: (topic: string) => string[] }

describe('messaging: bids from a crowd the orchestrator first turns away', () => {
  let hub: MsgNode
  let orch: MsgNode
  const bidders: MsgNode[] = []
  let all: MsgNode[] = []
  before(async () => {
    hub = await startMsgNode()
    orch = await startMsgNode()
    for (let i = 0; i < BIDDERS; i++) bidders.push(await startMsgNode())
    all = [hub, orch, ...bidders]
    for (const n of [orch, ...bidders]) await n.node.net.dial(hub.addr)
    // the bidders do not know where the orchestrator listens: its bid request tells them
    for (const b of bidders) assert.equal((await b.node.net.getPeerInfo(orch.id))?.addresses.length ?? 0, 0)
  })
  after(async () => { await stopAll(all) })

  async function round (options: { maxAttempts?: number, retryDelayMs?: number }): Promise<{ bids: string[], results: BidResult[] }> {
    const results: BidResult[] = []
    const deny = orch.node.config.network.denyPeers
    deny.push(...bidders.map(b => b.id))
    // between rounds a bidder's connection keeper may have dialled the orchestrator (it learned
    // its address from the last request): cut those, the deny list keeps new ones out
    for (const b of bidders) await orch.node.net.host.hangUp(peerIdFromString(b.id)).catch(() => {})
    await waitFor(() => bidders.every(b => !b.node.net.isConnected(orch.id)), 10_000, 'no bidder connected to the orchestrator')
    const inbound0 = (await orch.node.net.status()).denied?.inbound ?? 0
    let servers: BidServer[] = []
    const hubSub = hub.messaging.subscribe(orch.messaging.config.jobsTopic, () => {})
    try {
      servers = bidders.map(b => b.messaging.serveBids(() => ({ price: 1 }), { ...options, onResult: (r) => { results.push(r) } }))
      const topic = orch.messaging.config.jobsTopic
      await waitFor(() => orch.node.net.host.services.pubsub.getSubscribers(topic).some(p => p.toString() === hub.id) &&
        bidders.every(b => (hub.node.net.host.services.pubsub as unknown as Mesh).getMeshPeers(topic).includes(b.id)), 15_000, 'the hub meshed with every bidder on the jobs topic')
      const job = orch.messaging.publishJob({ kind: 'crowd', resources: {} }, { deadlineMs: 20_000, maxBids: BIDDERS })
      // once every bidder has been turned away (it gave up, or it is waiting to try again), the orchestrator lets them in
      await waitFor(() => servers.every(s => s.stats().failed + s.stats().retries >= 1), 15_000, 'every bidder turned away once')
      assert.ok(((await orch.node.net.status()).denied?.inbound ?? 0) - inbound0 >= BIDDERS, 'the orchestrator refused the bidders')
      deny.splice(0, deny.length)
      await waitFor(() => results.length === BIDDERS, 20_000, 'a result for every bid')
      job.close()
      return { bids: (await job.bids).map(b => b.bidder).sort(), results }
    } finally {
      deny.splice(0, deny.length)
      for (const s of servers) s.stop()
      hubSub.unsubscribe()
      for (const b of bidders) await orch.node.net.host.hangUp(peerIdFromString(b.id)).catch(() => {})
    }
  }

  it('a bid server that gives up after one try loses the bids of the bidders turned away (control)', async () => {
    const { bids, results } = await round({ maxAttempts: 1 })
    assert.deepEqual(bids, [])
    assert.equal(results.length, BIDDERS)
    for (const r of results) {
      assert.equal(r.sent, false)
      assert.equal(r.attempts, 1)
      assert.equal(r.orchestrator, orch.id)
    }
    // what they dialled came from the request: the orchestrator's own listen address
    const listen = orch.addr.replace(`/p2p/${orch.id}`, '')
    for (const b of bidders) assert.ok((await b.node.net.getPeerInfo(orch.id))?.addresses.includes(listen), `bidder ${b.id} learned ${listen}`)
  })

  it('the default bid server tries again until the deadline: every bid arrives, each reported delivered after a retry', async () => {
    const { bids, results } = await round({ retryDelayMs: 400 })
    assert.deepEqual(bids, bidders.map(b => b.id).sort())
    assert.equal(results.length, BIDDERS)
    for (const r of results) {
      assert.equal(r.sent, true, `bid not delivered: ${JSON.stringify(r)}`)
      assert.ok(r.attempts >= 2, `delivered at the first try although the orchestrator refused every bidder once: ${JSON.stringify(r)}`)
    }
  })

  it('a request collects at most MAX_BIDS_PER_REQUEST bids: a larger maxBids is refused', () => {
    assert.throws(() => orch.messaging.publishJob({ kind: 'x', resources: {} }, { maxBids: MAX_BIDS_PER_REQUEST + 1 }), { name: 'InvalidArgumentError' })
    const ok = orch.messaging.publishJob({ kind: 'x', resources: {} }, { maxBids: MAX_BIDS_PER_REQUEST, deadlineMs: 1 })
    ok.close()
  })
})

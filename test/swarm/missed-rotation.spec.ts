/**
 * A member whose key push failed inside `rotate()` ends on the new epoch by itself, within a bound,
 * while a revoked peer that missed its "revoked" notice the same way never gets the new key.
 * Real libp2p nodes over loopback TCP (formSwarm).
 *
 * The fault: D's, E's and C's key-protocol handlers on their current hosts hold every stream
 * without a reply (a member too loaded to answer within the push timeout), and D and E are
 * connected to each other on the old key. Before epoch-probe.ts, D and E kept each other looking
 * healthy (a fresh statement, a connected member) and stayed on the old epoch until their
 * statement went stale (5 minutes by default): this test then fails on its bound.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SWARM_KEY_PROTOCOL } from '../../src/swarm/wire.js'
import { formSwarm, waitFor, type FormedSwarm, type SwarmNode } from './helpers.js'

const addrOf = (n: SwarmNode): string => `/ip4/127.0.0.1/tcp/${n.port}/p2p/${n.id}`

/** The node's current host takes key-protocol streams and never answers them (its next host, after a switch, answers again). */
async function stallKeyProtocol (n: SwarmNode): Promise<void> {
  await n.net.host.unhandle(SWARM_KEY_PROTOCOL)
  await n.net.host.handle(SWARM_KEY_PROTOCOL, async () => { await new Promise(() => {}) })
}

describe('swarm: members that miss a rotation', { timeout: 120_000 }, () => {
  let s: FormedSwarm
  before(async () => { s = await formSwarm('missed', 4) })
  after(async () => { await s.stop() })

  it('two members whose push timed out reach the new epoch within 20 s by themselves; the revoked peer, also unreachable, never gets it', async () => {
    const A = s.creator
    const [B, C, D, E] = s.members as [SwarmNode, SwarmNode, SwarmNode, SwarmNode]
    await D.net.dial(addrOf(E))
    await waitFor(() => D.net.isConnected(E.id), 10_000, 'D and E connected on the old key')
    for (const n of [C, D, E]) await stallKeyProtocol(n)
    const cEpochs: number[] = []
    C.swarm.addEventListener('swarm:epoch', (e) => { cEpochs.push(e.detail.epoch) })
    const cRevoked = new Promise<void>(resolve => { C.swarm.addEventListener('swarm:revoked', () => { resolve() }, { once: true }) })
    const refusedC = new Promise<string>(resolve => {
      A.swarm.addEventListener('swarm:refused', (e) => { if (e.detail.peerId === C.id) resolve(e.detail.reason) })
    })

    // C's "revoked" notice goes unanswered too; the rotation's pushes to D and E time out
    await A.swarm.revoke(C.id, { rotate: false })
    const r = await A.swarm.rotate()
    assert.equal(r.epoch, 2)
    assert.ok(r.failed.includes(D.id) && r.failed.includes(E.id), `the pushes to D and E failed: ${JSON.stringify(r)}`)
    assert.ok(![...r.delivered, ...r.failed].includes(C.id), 'no push was even tried to the revoked C')
    const rotatedAt = Date.now()

    // B answered its push (or, on a machine loaded past the push timeout, recovers as D and E do)
    await waitFor(() => B.swarm.status().epoch === 2, 20_000, 'B on epoch 2')
    await waitFor(() => D.swarm.status().epoch === 2 && E.swarm.status().epoch === 2, 20_000, 'D and E on epoch 2 without a push')
    const tookMs = Date.now() - rotatedAt
    for (const n of [D, E]) {
      await waitFor(() => n.swarm.status().epochProbes?.moved === 1, 20_000, 'moved by its own key-service probe')
      await waitFor(() => n.net.isConnected(A.id), 20_000, 'back in touch with the creator on the new key')
    }

    // the revoked peer asked the same way and was refused: out, on the public network, no new key
    assert.equal(await refusedC, 'unauthorized')
    await cRevoked
    assert.equal(C.swarm.status().joined, false)
    assert.equal(C.net.profile.name, 'public')
    assert.equal(C.swarm.status().epoch, 1)
    assert.deepEqual(cEpochs, [], 'C never switched to a new epoch')
    await assert.rejects(C.swarm.join(A.swarm.status().keyService[0]!), { name: 'SwarmUnauthorizedError' })
    process.stderr.write(`# D and E on epoch 2 ${tookMs} ms after rotate() returned\n`)
  })
})

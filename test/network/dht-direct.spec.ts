/**
 * A network lookup of a connected peer the routing table holds asks that peer first, alone
 * (src/network/dht-direct.ts), on real dmsnet nodes over TCP: one query instead of kad-dht's
 * parallel paths. Stop 28's way (`target`, the before of A/B runs): the held target is asked
 * first, dialled when not connected; a target that has gone still ends in kad-dht's full lookup; a
 * target the table does not hold goes the full lookup at once. The connected-neighbour path (the
 * default for a target not connected) is in dht-neighbours.spec.ts.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { directLookupStats, directWanted, lookupVia, type DirectLookupStats, type LookupVia } from '../../src/network/dht-direct.js'
import { startNode, waitFor, type TestNode } from './helpers.js'
import { holdsPeer, newcomerKnownOnlyTo, NO_KEEPER, routingTable } from './dht-helpers.js'

interface Lookup { found: boolean, queries: number, from?: string, error?: string }

async function lookup (a: TestNode, b: TestNode, via?: LookupVia): Promise<Lookup> {
  let queries = 0
  try {
    for await (const ev of a.net.dht.findPeer(b.net.peerId, { useCache: false, signal: AbortSignal.timeout(30_000), ...(via != null ? { dmsnetVia: via } : {}) })) {
      if (ev.name === 'SEND_QUERY') queries++
      if (ev.name === 'FINAL_PEER') return { found: true, queries, from: ev.from.toString() }
    }
    return { found: false, queries }
  } catch (err) {
    return { found: false, queries, error: (err as Error).name }
  }
}

const statsOf = (n: TestNode): DirectLookupStats => directLookupStats(n.net.host.services.dht) ?? assert.fail('no direct lookups on this node')

describe('DHT lookups ask a target the routing table holds first', () => {
  const nodes: TestNode[] = []
  before(async () => {
    for (let i = 0; i < 6; i++) nodes.push(await startNode(NO_KEEPER))
    // everyone connected to everyone: every routing table holds the other five
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.net.dial(nodes[j]!.net.host.getMultiaddrs()[0]!)
    }
    await waitFor(() => nodes.every(n => routingTable(n).size >= nodes.length - 1), 30_000, 'full routing tables')
  })
  after(async () => { for (const n of nodes) await n.stop().catch(() => {}) })

  it('one query, to the target itself when connected', async () => {
    const [a, , , t] = nodes as [TestNode, TestNode, TestNode, TestNode]
    await waitFor(() => a.net.host.getConnections(t.net.peerId).length > 0, 10_000, 'A connected to T')
    const s0 = { ...statsOf(a) }
    const r = await lookup(a, t)
    assert.ok(r.found, `found (${r.error ?? ''})`)
    assert.equal(r.queries, 1, 'one query')
    assert.equal(r.from, t.net.peerId.toString(), 'answered by the target itself')
    const s1 = statsOf(a)
    assert.deepEqual({ direct: s1.direct, answered: s1.answered, fellBack: s1.fellBack, neighbours: s1.neighbours }, { direct: s0.direct + 1, answered: s0.answered + 1, fellBack: s0.fellBack, neighbours: s0.neighbours })
  })

  it('stop 28\'s way (`target`): one query, to the target itself, which is dialled when not connected', async () => {
    const [a, , , , , t] = nodes as [TestNode, TestNode, TestNode, TestNode, TestNode, TestNode]
    await a.net.host.hangUp(t.net.peerId)
    assert.equal(a.net.host.getConnections(t.net.peerId).length, 0)
    assert.ok(await holdsPeer(a, t), 'the table still holds the target')
    const s0 = { ...statsOf(a) }
    const r = await lookup(a, t, 'target')
    assert.ok(r.found, `found (${r.error ?? ''})`)
    // kad-dht alone starts 3 paths at once over the 5 peers of the table
    assert.equal(r.queries, 1, 'one query')
    assert.equal(r.from, t.net.peerId.toString(), 'answered by the target itself')
    assert.ok(a.net.host.getConnections(t.net.peerId).length > 0, 'the target was dialled')
    const s1 = statsOf(a)
    assert.deepEqual({ direct: s1.direct, answered: s1.answered, dialled: s1.dialled, fellBack: s1.fellBack }, { direct: s0.direct + 1, answered: s0.answered + 1, dialled: s0.dialled + 1, fellBack: s0.fellBack })
  })

  it('a target that has gone is still looked up by the full lookup, through the others', async () => {
    const [, b, , , g] = nodes as [TestNode, TestNode, TestNode, TestNode, TestNode]
    await g.stop()
    await waitFor(() => b.net.host.getConnections(g.net.peerId).length === 0, 10_000, 'B notices G gone')
    assert.ok(await holdsPeer(b, g), 'B\'s table still holds G')
    const s0 = { ...statsOf(b) }
    const r = await lookup(b, g, 'target')
    const s1 = statsOf(b)
    assert.equal(s1.direct, s0.direct + 1)
    assert.equal(s1.fellBack, s0.fellBack + 1, 'the full lookup ran')
    assert.equal(s1.answered, s0.answered, 'G could not answer')
    // the others' tables still name G (with its last address): kad-dht's lookup ends as it always did
    assert.ok(r.found, `found through the others (${r.error ?? ''})`)
    assert.notEqual(r.from, g.net.peerId.toString())
  })

  it('a target the routing table does not hold goes the full lookup at once', async () => {
    const [a, , c] = nodes as [TestNode, TestNode, TestNode]
    // a newcomer only C knows (its self-query stopped, so it tells nobody else)
    const stranger = await newcomerKnownOnlyTo(c, a, nodes)
    const s0 = { ...statsOf(a) }
    const r = await lookup(a, stranger, 'target')
    assert.ok(r.found, `found (${r.error ?? ''})`)
    assert.equal(statsOf(a).direct, s0.direct, 'no direct question')
    assert.equal(statsOf(a).full, s0.full + 1, 'the full lookup at once')
  })

  it('DMSNET_DHT_DIRECT=0 (or off, false) turns it off; target (or dial) is stop 28\'s; anything else the neighbours', () => {
    for (const v of ['0', 'off', 'false']) assert.equal(directWanted(v), false, v)
    for (const v of [undefined, '', '1', 'on']) assert.equal(directWanted(v), true, String(v))
    for (const v of ['target', 'dial']) assert.equal(lookupVia(v), 'target', v)
    for (const v of [undefined, '', '1', 'on', 'auto']) assert.equal(lookupVia(v), 'auto', String(v))
  })
})

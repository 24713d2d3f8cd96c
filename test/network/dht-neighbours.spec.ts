/**
 * A network lookup of a peer we are not connected to asks the connected peers closest to it first
 * (src/network/dht-direct.ts), on real dmsnet nodes and stock js-libp2p peers over TCP:
 * - the target is found through a neighbour without a single new connection (kad-dht's own lookup,
 *   the positive control, dials the target);
 * - neighbours that lie (answer without the target) start kad-dht's full lookup at once, neighbours
 *   that never answer start it after the fallback; both still find the target through an honest peer;
 * - a connected target that accepts the request and never answers does not hold the lookup: the
 *   full lookup starts after the fallback and the others name it;
 * - `node.dht.status` shows the counters.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { sha256 } from 'multiformats/hashes/sha2'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { directLookupStats, type DirectLookupStats, type LookupVia } from '../../src/network/dht-direct.js'
import { createMethodRegistry } from '../../src/control/registry.js'
import { registerDhtControl } from '../../src/daemon/dht-control.js'
import { startNode, waitFor, type TestNode } from './helpers.js'
import { holdsPeer, NO_KEEPER, releaseLookups, routingTable, stopSelfQuery } from './dht-helpers.js'

const DHT_PROTOCOL = '/dmsnet/kad/1.0.0'

interface Lookup { found: boolean, queries: number, asked: string[], from?: string, error?: string }

async function lookup (a: TestNode, target: PeerId, via?: LookupVia): Promise<Lookup> {
  let queries = 0
  const asked: string[] = []
  try {
    const opts = { useCache: false, signal: AbortSignal.timeout(30_000), ...(via != null ? { dmsnetVia: via } : {}) }
    for await (const ev of a.net.dht.findPeer(target, opts)) {
      if (ev.name === 'SEND_QUERY') { queries++; asked.push(ev.to.toString()) }
      if (ev.name === 'FINAL_PEER') return { found: true, queries, asked, from: ev.from.toString() }
    }
    return { found: false, queries, asked }
  } catch (err) {
    return { found: false, queries, asked, error: (err as Error).name }
  }
}

const statsOf = (n: TestNode): DirectLookupStats => directLookupStats(n.net.host.services.dht) ?? assert.fail('no first questions on this node')
const addr = (n: TestNode | Libp2p): ReturnType<Libp2p['getMultiaddrs']>[number] => ('net' in n ? n.net.host : n).getMultiaddrs()[0]!

/** Counts the connections `n` opens or accepts from now on. */
function countOpens (n: TestNode): () => number {
  let opened = 0
  n.net.host.addEventListener('connection:open', () => { opened++ })
  return () => opened
}

const holdsId = async (n: TestNode, p: PeerId): Promise<boolean> => (await routingTable(n).find?.(p)) != null
const kadId = async (p: PeerId): Promise<Uint8Array> => (await sha256.digest(p.toMultihash().bytes)).digest
function closer (a: Uint8Array, b: Uint8Array, t: Uint8Array): boolean {
  for (let i = 0; i < t.length; i++) {
    const da = a[i]! ^ t[i]!
    const db = b[i]! ^ t[i]!
    if (da !== db) return da < db
  }
  return false
}

/** `count` keys whose peers are closer (XOR) to `target` than `than` is; bounded in tries. */
async function keysCloser (target: PeerId, than: PeerId, count: number): Promise<PrivateKey[]> {
  const t = await kadId(target)
  const limit = await kadId(than)
  const out: PrivateKey[] = []
  for (let i = 0; i < 20_000 && out.length < count; i++) {
    const k = await generateKeyPair('Ed25519')
    if (closer(await kadId(peerIdFromPrivateKey(k)), limit, t)) out.push(k)
  }
  assert.equal(out.length, count, 'keys closer to the target than the honest peer')
  return out
}

/**
 * Undoes what an earlier lookup may have made between `x` and `y` (kad-dht's full lookup goes on
 * to the target it is told about and dials it): out of each other's routing table, no keep-alive
 * tag (libp2p would dial back at once), disconnected.
 */
async function separate (x: TestNode, y: TestNode): Promise<void> {
  for (const [p, q] of [[x, y], [y, x]] as const) {
    await (routingTable(p) as unknown as { remove: (id: PeerId) => Promise<void> }).remove(q.net.peerId)
    await p.net.host.peerStore.merge(q.net.peerId, { tags: { 'keep-alive-kad-dht': undefined } }).catch(() => {})
  }
  await x.net.host.hangUp(y.net.peerId)
  await waitFor(() => x.net.host.getConnections(y.net.peerId).length === 0 && y.net.host.getConnections(x.net.peerId).length === 0, 10_000, 'disconnected')
  assert.equal(await holdsPeer(x, y), false)
}

type Hostility = 'lie' | 'stall'

/**
 * A stock js-libp2p peer that says it speaks our DHT protocol (identify) and, asked anything there, either
 * answers a FIND_NODE with no peers at all (`lie`) or reads the request and never answers (`stall`).
 */
async function hostilePeer (privateKey: PrivateKey, mode: () => Hostility): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // kad-dht pings (libp2p ping) a new contact before it adds it to the routing table
    services: { identify: identify(), ping: ping() }
  })
  await node.handle(DHT_PROTOCOL, async (stream: Stream) => {
    for await (const chunk of stream) {
      void chunk
      if (mode() === 'stall') continue
      // a length-prefixed kad message {type: FIND_NODE} without closer peers
      stream.send(Uint8Array.from([2, 0x08, 0x04]))
      await stream.close()
      return
    }
  })
  return node
}

describe('DHT lookups of a peer we are not connected to ask connected neighbours first', () => {
  const nodes: TestNode[] = []
  after(async () => { for (const n of nodes) await n.stop().catch(() => {}) })

  it('finds the target through a neighbour without opening any connection; kad-dht alone dials', { timeout: 90_000 }, async () => {
    // A and T never meet: their self-queries (which would ask around and dial) are stopped first
    const [a, t, ...mid] = await Promise.all([0, 1, 2, 3, 4].map(async () => await startNode(NO_KEEPER)))
    nodes.push(a!, t!, ...mid)
    stopSelfQuery(a!)
    releaseLookups(a!)
    stopSelfQuery(t!)
    for (const m of mid) {
      await t!.net.dial(addr(m))
      await a!.net.dial(addr(m))
    }
    await waitFor(async () => (await Promise.all(mid.map(async m => await holdsPeer(a!, m) && await holdsPeer(m, t!)))).every(Boolean), 30_000, 'A holds B, C, D; they hold T')
    assert.equal(a!.net.host.getConnections(t!.net.peerId).length, 0, 'A is not connected to T')
    const opensA = countOpens(a!)
    const opensT = countOpens(t!)
    const s0 = { ...statsOf(a!) }
    const r = await lookup(a!, t!.net.peerId)
    assert.ok(r.found, `found (${r.error ?? ''})`)
    const midIds = mid.map(m => m.net.peerId.toString())
    assert.ok(r.from != null && midIds.includes(r.from), 'named by a neighbour')
    assert.ok(r.queries >= 1 && r.queries <= 3 && r.asked.every(p => midIds.includes(p)), `only connected neighbours asked: ${r.asked.join(', ')}`)
    assert.equal(opensA(), 0, 'A opened no connection')
    assert.equal(opensT(), 0, 'nobody dialled T')
    const s1 = statsOf(a!)
    assert.deepEqual({ n: s1.neighbours, answered: s1.neighbourAnswered, fellBack: s1.fellBack, direct: s1.direct },
      { n: s0.neighbours + 1, answered: s0.neighbourAnswered + 1, fellBack: s0.fellBack, direct: s0.direct })
    // the operator's view: node.dht.status shows the counters, node.dht.find-peer takes `via`
    const registry = createMethodRegistry()
    registerDhtControl(registry, a!.net)
    const call = async (name: string, params: unknown): Promise<Record<string, unknown>> => {
      const m = registry.get(name)
      return await (m.handler(registry.parseParams(m, params), { signal: AbortSignal.timeout(30_000) }) as Promise<Record<string, unknown>>)
    }
    const st = await call('node.dht.status', {}) as { lookups?: Record<string, number> }
    assert.equal(st.lookups?.neighbourAnswered, s1.neighbourAnswered, `node.dht.status shows the counters: ${JSON.stringify(st)}`)
    // the positive control: kad-dht's own lookup goes on to the target it is told about, and dials it
    const k = await call('node.dht.find-peer', { peer: t!.net.peerId.toString(), via: 'kad' })
    assert.equal(k.found, true, `kad-dht found it too: ${JSON.stringify(k)}`)
    assert.equal(statsOf(a!).neighbours, s1.neighbours, 'via kad: no first questions')
    await waitFor(() => opensA() > 0, 10_000, 'kad-dht\'s lookup to open a connection')
  })
})

describe('DHT lookups: hostile first questions fall back to the full lookup', () => {
  const nodes: TestNode[] = []
  const stock: Libp2p[] = []
  let hostility: Hostility = 'lie'
  let a: TestNode
  let b: TestNode
  let t: TestNode
  const honest = (id?: string): boolean => id === b.net.peerId.toString() || id === t.net.peerId.toString()
  before(async () => {
    ;[a, b, t] = await Promise.all([0, 1, 2].map(async () => await startNode(NO_KEEPER))) as [TestNode, TestNode, TestNode]
    nodes.push(a, b, t)
    stopSelfQuery(a)
    releaseLookups(a)
    stopSelfQuery(t)
    // three liars/stallers closer to T than the honest B: they are the neighbours A asks first
    for (const k of await keysCloser(t.net.peerId, b.net.peerId, 3)) stock.push(await hostilePeer(k, () => hostility))
    await t.net.dial(addr(b))
    await a.net.dial(addr(b))
    for (const h of stock) await a.net.host.dial(h.getMultiaddrs()[0]!)
    await waitFor(async () => await holdsPeer(b, t) && await holdsPeer(a, b), 30_000, 'B holds T, A holds B')
    await waitFor(async () => (await Promise.all(stock.map(async h => await holdsId(a, h.peerId)))).every(Boolean), 30_000, 'A holds the hostile peers')
  })
  after(async () => {
    for (const n of nodes) await n.stop().catch(() => {})
    for (const s of stock) await Promise.resolve(s.stop()).catch(() => {})
  })

  /** Hostile neighbours in `mode`: the lookup still finds the target, by an honest peer, through kad-dht's full lookup. */
  async function throughHostileNeighbours (mode: typeof hostility, early: boolean): Promise<void> {
    hostility = mode
    await separate(a, t)
    const s0 = { ...statsOf(a) }
    const r = await lookup(a, t.net.peerId)
    assert.ok(r.found, `found (${r.error ?? ''})`)
    // by B, or by T itself once B named it (the full lookup goes on to the closest peer it hears of)
    assert.ok(honest(r.from), 'named by an honest peer')
    const s1 = statsOf(a)
    assert.equal(s1.neighbours, s0.neighbours + 1)
    assert.equal(s1.neighbourAnswered, s0.neighbourAnswered, 'no neighbour named it')
    assert.equal(s1.fellBack, s0.fellBack + 1, 'the full lookup ran')
    assert.equal(s1.fellBackEarly, s0.fellBackEarly + (early ? 1 : 0), early ? 'at once, not after the timer' : 'after the timer: the neighbours never ended')
  }

  it('neighbours that answer without the target: the full lookup starts at once and finds it', { timeout: 60_000 }, async () => {
    await throughHostileNeighbours('lie', true)
  })

  it('neighbours that never answer: the full lookup starts after the fallback and finds it', { timeout: 60_000 }, async () => {
    await throughHostileNeighbours('stall', false)
  })

  it('a connected target that never answers: the full lookup starts after the fallback, the others name it', { timeout: 60_000 }, async () => {
    hostility = 'stall'
    // a hostile target A is connected to and holds; B is connected to it too, so B's answers name it
    const h = stock[0]!
    await b.net.host.dial(h.getMultiaddrs()[0]!)
    await waitFor(async () => await holdsId(b, h.peerId), 30_000, 'B holds H')
    const s0 = { ...statsOf(a) }
    const r = await lookup(a, h.peerId)
    assert.ok(r.found, `found (${r.error ?? ''})`)
    assert.notEqual(r.from, h.peerId.toString(), 'not from the stalled target')
    const s1 = statsOf(a)
    assert.equal(s1.direct, s0.direct + 1, 'asked the target first')
    assert.equal(s1.answered, s0.answered)
    assert.equal(s1.fellBack, s0.fellBack + 1, 'the full lookup ran')
    assert.equal(s1.fellBackEarly, s0.fellBackEarly, 'after the timer: the target never answered')
  })
})

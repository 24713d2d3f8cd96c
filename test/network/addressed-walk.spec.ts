/**
 * The walk's addressed lookups (src/network/addressed-walk.ts) as logic: addresses from the peer
 * store first, `findPeer` only for a peer the store has none for, a peer with no address left out
 * and counted, each peer once per lookup. The proof on real nodes is
 * test/network/addressed-walk-nodes.spec.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { addressedClosestPeers, type PeerRoutingInternals } from '../../src/network/addressed-walk.js'
import type { PeerId, PeerInfo } from '@libp2p/interface'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
const addr = (port: number): Multiaddr => multiaddr(`/ip4/127.0.0.1/tcp/${port}`)

function routingOf (results: PeerInfo[][], store: Map<string, Multiaddr[]>, lookup: (id: PeerId) => PeerInfo | undefined): PeerRoutingInternals & { lookups: string[], merged: string[] } {
  const r = {
    lookups: [] as string[],
    merged: [] as string[],
    routers: results.map(peers => ({ async * getClosestPeers () { yield * peers } })),
    peerStore: {
      get: async (id: PeerId) => {
        const a = store.get(id.toString())
        if (a == null) throw Object.assign(new Error('not found'), { name: 'NotFoundError' })
        return { addresses: a.map(multiaddr => ({ multiaddr })) }
      },
      merge: async (id: PeerId) => { r.merged.push(id.toString()) }
    },
    findPeer: async (id: PeerId) => {
      r.lookups.push(id.toString())
      const found = lookup(id)
      if (found == null) throw Object.assign(new Error('not found'), { name: 'NotFoundError' })
      return found
    }
  }
  return r
}

async function collect (it: AsyncIterable<PeerInfo>): Promise<PeerInfo[]> {
  const out: PeerInfo[] = []
  for await (const p of it) out.push(p)
  return out
}

describe('addressed walk lookups', () => {
  it('takes addresses from the peer store, looks up only the unknown, drops the unfindable, yields each peer once', async () => {
    const [known, addressed, unknown, lost] = await Promise.all([newPeer(), newPeer(), newPeer(), newPeer()])
    const store = new Map([[known.toString(), [addr(1)]]])
    const routing = routingOf(
      [[{ id: known, multiaddrs: [] }, { id: addressed, multiaddrs: [addr(2)] }, { id: unknown, multiaddrs: [] }, { id: lost, multiaddrs: [] }],
        [{ id: known, multiaddrs: [] }]],
      store,
      id => id.equals(unknown) ? { id, multiaddrs: [addr(3)] } : undefined
    )
    const walk = addressedClosestPeers(routing)
    const got = await collect(walk.getClosestPeers(new Uint8Array(32)))
    assert.deepEqual(got.map(p => [p.id.toString(), p.multiaddrs.map(String)]), [
      [known.toString(), ['/ip4/127.0.0.1/tcp/1']],
      [addressed.toString(), ['/ip4/127.0.0.1/tcp/2']],
      [unknown.toString(), ['/ip4/127.0.0.1/tcp/3']]
    ])
    assert.deepEqual(routing.lookups, [unknown.toString(), lost.toString()], 'findPeer only for peers the store had no address for')
    assert.deepEqual(routing.merged, [addressed.toString()], 'addresses a lookup returned go to the store')
    assert.deepEqual(walk.stats, { peers: 3, fromPeerStore: 1, lookups: 2, unaddressed: 1 })
  })

  it('stops with the abort error when its signal aborts during a lookup', async () => {
    const stranger = await newPeer()
    const controller = new AbortController()
    const routing = routingOf([[{ id: stranger, multiaddrs: [] }]], new Map(), () => { controller.abort(new Error('stopped')); return undefined })
    await assert.rejects(collect(addressedClosestPeers(routing).getClosestPeers(new Uint8Array(32), { signal: controller.signal })), /stopped/)
  })
})

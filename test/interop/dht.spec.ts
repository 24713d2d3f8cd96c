/**
 * kad-dht under dmsnet's `/dmsnet` prefix: the Go peer and 5 dmsnet nodes, where every dmsnet
 * node knows only the Go peer at first. Each dmsnet node finds every other node (and the Go
 * peer) by peer id with a network lookup (no local cache), with some answers coming from the Go
 * peer's DHT server; the Go peer finds every dmsnet node with go-libp2p-kad-dht's FindPeer after
 * hanging up on it (so the answer cannot come from an open connection).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { startNode, waitFor, type TestNode } from '../network/helpers.js'
import { GoPeer } from './go-peer.js'

const N = 5

/** The routing table is not on the public KadDHT type; its size is what the wait needs. */
const rtSize = (n: TestNode): number => (n.net.host.services.dht as unknown as { routingTable: { size: number } }).routingTable.size

describe('interop kad-dht (/dmsnet prefix): go peer + 5 dmsnet nodes', () => {
  let go: GoPeer
  const nodes: TestNode[] = []
  const listenAddr = (n: TestNode): string => n.net.host.getMultiaddrs()[0]!.toString().replace(/\/p2p\/.*$/, '')
  const idOf = (n: TestNode): string => n.net.peerId.toString()

  before(async () => {
    go = await GoPeer.start({ dhtPrefix: '/dmsnet' })
    for (let i = 0; i < N; i++) nodes.push(await startNode())
    // every dmsnet node knows only the Go peer
    for (const n of nodes) await n.net.dial(go.addr)
    await waitFor(async () => Number((await go.cmd('dht-table'))[0]) >= N, 30_000, 'go routing table holds the 5 dmsnet nodes')
    await waitFor(() => nodes.every(n => rtSize(n) >= 1), 30_000, 'each dmsnet routing table holds the go peer')
  })

  after(async () => {
    await go?.stop()
    for (const n of nodes) await n.stop().catch(() => {})
  })

  test('the dmsnet protocol prefix is what both sides speak', async () => {
    const [, protos] = await go.cmd('identify', [idOf(nodes[0]!)])
    assert.ok(protos!.replace(/^protocols=/, '').split(',').includes('/dmsnet/kad/1.0.0'), protos)
    const goPeer = await nodes[0]!.net.host.peerStore.get(peerIdFromString(go.id))
    assert.ok(goPeer.protocols.includes('/dmsnet/kad/1.0.0'), goPeer.protocols.join(' '))
    assert.ok(!goPeer.protocols.includes('/ipfs/kad/1.0.0'))
  })

  test('each dmsnet node finds every other node and the go peer through the DHT', async () => {
    const answeredBy = new Map<string, number>()
    for (const a of nodes) {
      const targets = [...nodes.filter(b => b !== a).map(b => ({ id: idOf(b), addr: listenAddr(b) })), { id: go.id, addr: go.addr.replace(/\/p2p\/.*$/, '') }]
      for (const t of targets) {
        let found: string[] | undefined
        for await (const ev of a.net.host.services.dht.findPeer(peerIdFromString(t.id), { useCache: false, signal: AbortSignal.timeout(30_000) })) {
          if (ev.name === 'FINAL_PEER' && ev.peer.id.toString() === t.id) {
            found = ev.peer.multiaddrs.map(m => m.toString())
            answeredBy.set(ev.from.toString(), (answeredBy.get(ev.from.toString()) ?? 0) + 1)
            break
          }
        }
        assert.ok(found != null, `${idOf(a)} did not find ${t.id}`)
        assert.ok(found.includes(t.addr), `${t.id} found with ${found.join(' ')}, expected ${t.addr}`)
      }
    }
    // the go peer's DHT server answered lookups (every node started knowing only the go peer)
    assert.ok((answeredBy.get(go.id) ?? 0) > 0, `answers came from ${[...answeredBy.keys()].join(' ')}`)
  })

  test('the go peer finds every dmsnet node through the DHT (not from an open connection)', async () => {
    for (const n of nodes) {
      await go.cmd('hangup', [idOf(n)])
      const addrs = await go.cmd('dht-find', [idOf(n)], 60_000)
      assert.ok(addrs.includes(listenAddr(n)), `go found ${idOf(n)} at ${addrs.join(' ')}, expected ${listenAddr(n)}`)
    }
  })
})

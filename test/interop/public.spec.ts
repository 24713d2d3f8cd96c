/**
 * go-libp2p <-> dmsnet on the public network (TCP + Noise + yamux), both directions: connect,
 * identify (protocols listed both ways), ping, 256 MiB each way with the SHA-256 compared (our
 * 256 KiB-then-16 MiB yamux window against go-yamux), 100 concurrent streams each way.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { nextEvent, startNode, waitFor, type TestNode } from '../network/helpers.js'
import { GoPeer } from './go-peer.js'
import { echoStreams, sendBlob, serveTestProtocols, BLOB, ECHO } from './protocols.js'

const BIG = 256 * 1024 * 1024
const mbps = (bytes: number, ms: number): string => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`

for (const direction of ['go dials dmsnet', 'dmsnet dials go'] as const) {
  describe(`interop public network: ${direction}`, () => {
    let go: GoPeer
    let node: TestNode
    let received: Array<{ bytes: number, hash: string }>
    let dmsnetId: string

    before(async () => {
      go = await GoPeer.start()
      node = await startNode()
      received = await serveTestProtocols(node.net)
      dmsnetId = node.net.peerId.toString()
    })

    after(async () => {
      await go?.stop()
      await node?.stop()
    })

    test('connect, with the direction we asked for', async () => {
      const identified = nextEvent<{ peerId: string }>(node.net, 'peer:identified', d => d.peerId === go.id, 20_000)
      if (direction === 'go dials dmsnet') {
        await go.cmd('connect', [`${node.net.host.getMultiaddrs()[0]!.toString()}`])
      } else {
        await node.net.dial(go.addr)
      }
      await identified
      const conns = (await node.net.status()).connections.filter(c => c.peerId === go.id)
      assert.equal(conns.length, 1)
      assert.equal(conns[0]!.direction, direction === 'go dials dmsnet' ? 'inbound' : 'outbound')
      assert.deepEqual(await go.cmd('peers'), [dmsnetId])
    })

    test('identify: each side lists the other\'s protocols and agent', async () => {
      const [agent, protos] = await go.cmd('identify', [dmsnetId])
      assert.equal(agent, 'agent=dmsnet/0.1.0')
      const theirs = (protos ?? '').replace(/^protocols=/, '').split(',')
      for (const p of ['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', '/dmsnet/kad/1.0.0', '/meshsub/1.1.0', BLOB, ECHO]) {
        assert.ok(theirs.includes(p), `go sees dmsnet's ${p} (got ${theirs.join(' ')})`)
      }
      const peer = await node.net.host.peerStore.get(node.net.host.getConnections().find(c => c.remotePeer.toString() === go.id)!.remotePeer)
      for (const p of ['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', '/dmsnet/msg/1.0.0', BLOB, ECHO]) {
        assert.ok(peer.protocols.includes(p), `dmsnet sees go's ${p} (got ${peer.protocols.join(' ')})`)
      }
      assert.equal(new TextDecoder().decode(peer.metadata.get('AgentVersion')), 'dmsnet-interop-go/1')
    })

    test('ping both ways', async () => {
      const [us] = await go.cmd('ping', [dmsnetId])
      assert.ok(Number(us) > 0)
      const ms = await node.net.ping(go.id)
      assert.ok(ms >= 0)
      console.log(`# ${direction}: ping go->dmsnet ${(Number(us) / 1000).toFixed(2)} ms, dmsnet->go ${ms} ms`)
    })

    test('256 MiB go -> dmsnet, hash compared', async () => {
      const before = received.length
      const [local, remote, ms] = await go.cmd('blob', [dmsnetId, BIG], 300_000)
      assert.equal(remote, local)
      await waitFor(() => received.length > before, 10_000, 'dmsnet blob handler')
      assert.deepEqual(received.at(-1), { bytes: BIG, hash: local })
      console.log(`# ${direction}: 256 MiB go->dmsnet in ${ms} ms (${mbps(BIG, Number(ms))})`)
    })

    test('256 MiB dmsnet -> go, hash compared', async () => {
      const r = await sendBlob(node.net, go.id, BIG)
      assert.equal(r.remote, r.local)
      console.log(`# ${direction}: 256 MiB dmsnet->go in ${r.ms} ms (${mbps(BIG, r.ms)})`)
    })

    test('100 concurrent streams each way', async () => {
      assert.deepEqual(await go.cmd('echo', [dmsnetId, 100, 65536]), ['100'])
      assert.equal(await echoStreams(node.net, go.id, 100, 65536), 100)
      // everything still ran over the one connection the test opened
      assert.equal(node.net.host.getConnections().filter(c => c.remotePeer.toString() === go.id).length, 1)
    })
  })
}

/**
 * The Network on real js-libp2p nodes over loopback TCP: dial, ping, status, handlers, DHT
 * discovery through a bootstrap node, stop/restart.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { DialError, InvalidArgumentError, NotStartedError, PeerNotFoundError } from '../../src/errors.js'
import { createNetwork } from '../../src/network/network.js'
import { ECHO, echo, roundTrip, startNode, tempDir, testConfig, waitFor, type TestNode } from './helpers.js'

describe('network: three nodes and the DHT', () => {
  let a: TestNode, b: TestNode, c: TestNode
  before(async () => {
    a = await startNode()
    const boot = a.net.host.getMultiaddrs().map(String)
    b = await startNode({ 'network.bootstrap': boot })
    c = await startNode({ 'network.bootstrap': boot })
  })
  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()])
  })

  it('B and C connect to the bootstrap node on their own', async () => {
    await waitFor(() => b.net.isConnected(a.net.peerId) && c.net.isConnected(a.net.peerId), 15_000, 'bootstrap connections')
    await waitFor(() => a.net.peers().includes(b.net.peerId.toString()) && a.net.peers().includes(c.net.peerId.toString()), 5000, 'A sees B and C')
  })

  it('C finds B through the DHT (only the bootstrap node in common) and dials it by bare peer id', async () => {
    assert.equal(c.net.isConnected(b.net.peerId), false)
    const bAddrs = b.net.host.getMultiaddrs().map(m => m.decapsulateCode(421).toString())
    // A learns that B serves the DHT once identify ran; until then A may not know the answer
    let foundAddrs: string[] = []
    await waitFor(async () => {
      try {
        const found = await c.net.host.peerRouting.findPeer(b.net.peerId, { signal: AbortSignal.timeout(2000) })
        assert.equal(found.id.toString(), b.net.peerId.toString())
        foundAddrs = found.multiaddrs.map(m => m.toString())
        return true
      } catch {
        return false
      }
    }, 20_000, 'DHT findPeer(B) from C')
    assert.ok(bAddrs.some(x => foundAddrs.includes(x)), `DHT answer ${foundAddrs.join()} has none of B's addresses ${bAddrs.join()}`)

    const conn = await c.net.dial(b.net.peerId.toString())
    assert.equal(conn.remotePeer.toString(), b.net.peerId.toString())
    assert.ok(c.net.isConnected(b.net.peerId.toString()))
  })

  it('resolveAddress and peerPublicKey (Go DMS ResolveAddress / GetPeerPubKey)', async () => {
    const addrs = await c.net.resolveAddress(b.net.peerId.toString())
    const bAddrs = b.net.host.getMultiaddrs().map(m => m.decapsulateCode(421).toString())
    assert.ok(addrs.some(x => bAddrs.includes(x)), addrs.join())
    assert.deepEqual(await a.net.resolveAddress(a.net.peerId), a.net.host.getMultiaddrs().map(String))
    const key = await c.net.peerPublicKey(b.net.peerId.toString())
    assert.equal(key.type, 'Ed25519')
    assert.ok(key.equals(b.net.host.peerId.publicKey!))
    await assert.rejects(c.net.resolveAddress('garbage'), InvalidArgumentError)
  })

  it('dialProtocol by bare peer id reaches a handler registered through the Network', async () => {
    await b.net.handle(ECHO, echo)
    const s = await c.net.dialProtocol(b.net.peerId.toString(), ECHO)
    assert.equal(await roundTrip(s, 'hello over dmsnet'), 'hello over dmsnet')
    await b.net.unhandle(ECHO)
    await assert.rejects(c.net.dialProtocol(b.net.peerId, ECHO), (e: Error) => e.name === 'DialError')
  })
})

describe('network: one pair of nodes', () => {
  let a: TestNode, b: TestNode
  before(async () => {
    a = await startNode({ 'network.listen': ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] })
    b = await startNode()
  })
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  it('dial by multiaddr; status shows direction and transport on both sides; ping measures', async () => {
    const tcpAddr = a.net.host.getMultiaddrs().find(m => !m.toString().includes('/ws'))!
    await b.net.dial(tcpAddr)
    const rtt = await b.net.ping(a.net.peerId)
    assert.ok(Number.isFinite(rtt) && rtt >= 0, `rtt ${rtt}`)
    const sb = await b.net.status()
    assert.equal(sb.peerId, b.net.peerId.toString())
    assert.equal(sb.started, true)
    assert.ok(sb.listenAddrs.length > 0)
    const out = sb.connections.find(x => x.peerId === a.net.peerId.toString())
    assert.ok(out != null)
    assert.equal(out.direction, 'outbound')
    assert.equal(out.transport, 'tcp')
    assert.equal(out.limited, false)
    assert.equal(out.latencyMs, rtt)
    await waitFor(async () => (await a.net.status()).connections.some(x => x.peerId === b.net.peerId.toString()), 5000, 'inbound conn on A')
    const inb = (await a.net.status()).connections.find(x => x.peerId === b.net.peerId.toString())!
    assert.equal(inb.direction, 'inbound')
    assert.equal(inb.transport, 'tcp')
    assert.deepEqual(b.net.peers(), [a.net.peerId.toString()])
  })

  it('dials over WebSockets and reports the transport', async () => {
    await b.net.hangUp(a.net.peerId)
    await waitFor(() => !b.net.isConnected(a.net.peerId), 5000, 'hang up')
    const wsAddr = a.net.host.getMultiaddrs().find(m => m.toString().includes('/ws'))!
    assert.ok(wsAddr != null, 'A listens on ws')
    const conn = await b.net.dial(wsAddr.toString())
    assert.equal(conn.direction, 'outbound')
    const st = await b.net.status()
    assert.equal(st.connections.find(x => x.peerId === a.net.peerId.toString())?.transport, 'websockets')
  })

  it('bad targets give typed errors', async () => {
    await assert.rejects(b.net.dial('not-a-peer-id'), InvalidArgumentError)
    await assert.rejects(b.net.dial('/ip4/127.0.0.1/tcp/1'), DialError)
    const unknown = (await (await import('@libp2p/crypto/keys')).generateKeyPair('Ed25519'))
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    await assert.rejects(b.net.dial(peerIdFromPrivateKey(unknown).toString(), { signal: AbortSignal.timeout(3000) }), (e: Error) => e instanceof PeerNotFoundError || e.name === 'TimeoutError')
    await assert.rejects(b.net.handle('no-slash', echo), InvalidArgumentError)
  })

  it('registering a protocol twice is an error', async () => {
    await a.net.handle('/dmsnet-test/twice/1', echo)
    await assert.rejects(a.net.handle('/dmsnet-test/twice/1', echo), InvalidArgumentError)
    await a.net.unhandle('/dmsnet-test/twice/1')
  })
})

describe('network: lifecycle', () => {
  it('start and stop are idempotent; calls on a stopped network throw NotStartedError', async () => {
    const t = tempDir()
    try {
      const net = await createNetwork({ config: testConfig(t.dir) })
      assert.throws(() => net.host, NotStartedError)
      await Promise.all([net.start(), net.start()])
      assert.equal(net.started, true)
      const host = net.host
      await net.start()
      assert.equal(net.host, host, 'a second start keeps the host')
      await net.stop()
      await net.stop()
      assert.equal(net.started, false)
      assert.equal(host.status, 'stopped')
      await assert.rejects(net.dial('/ip4/127.0.0.1/tcp/1'), NotStartedError)
      assert.deepEqual(net.peers(), [])
      assert.equal((await net.status()).started, false)
    } finally {
      t.cleanup()
    }
  })

  it('start honours an aborted signal', async () => {
    const t = tempDir()
    try {
      const net = await createNetwork({ config: testConfig(t.dir) })
      await assert.rejects(net.start({ signal: AbortSignal.abort() }), { name: 'AbortError' })
      assert.equal(net.started, false)
    } finally {
      t.cleanup()
    }
  })

  it('a restarted node (same data dir) keeps its peer id and can be dialled again', async () => {
    const t = tempDir()
    try {
      const first = await startNode({}, {}, t.dir)
      const id = first.net.peerId.toString()
      await first.net.stop()
      const second = await startNode({}, {}, t.dir)
      assert.equal(second.net.peerId.toString(), id)
      const other = await startNode()
      const conn = await other.net.dial(second.net.host.getMultiaddrs()[0]!)
      assert.equal(conn.remotePeer.toString(), id)
      await other.stop()
      await second.net.stop()
    } finally {
      t.cleanup()
    }
  })
})

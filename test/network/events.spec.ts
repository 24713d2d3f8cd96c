/**
 * Typed events of the Network, provoked on real nodes over loopback TCP; gater; profile switch.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { DialError } from '../../src/errors.js'
import { createNetwork } from '../../src/network/network.js'
import { ECHO, echo, nextEvent, roundTrip, startNode, tempDir, testConfig, waitFor } from './helpers.js'
import type { HostProfile, NetworkEvents } from '../../src/network/types.js'
import type { IdentifyResult } from '@libp2p/interface'

type Detail<K extends keyof NetworkEvents> = NetworkEvents[K]['detail']

describe('network events', () => {
  it('start emits host:changed, local-addresses:updated and reachability:changed', async () => {
    const t = tempDir()
    const net = await createNetwork({ config: testConfig(t.dir) })
    try {
      const hostChanged = nextEvent<Detail<'host:changed'>>(net, 'host:changed')
      const addrs = nextEvent<Detail<'local-addresses:updated'>>(net, 'local-addresses:updated', d => d.addresses.length > 0)
      const reach = nextEvent<Detail<'reachability:changed'>>(net, 'reachability:changed')
      await net.start()
      const hc = await hostChanged
      assert.equal(hc.host, net.host)
      assert.equal(hc.profile.name, 'public')
      const la = await addrs
      assert.ok(la.addresses.some(a => a.startsWith('/ip4/127.0.0.1/tcp/')), la.addresses.join())
      // only loopback addresses: not reachable from the internet
      assert.equal((await reach).reachability, 'private')
      assert.equal((await net.status()).reachability, 'private')
    } finally {
      await net.stop()
      t.cleanup()
    }
  })

  it('announcing a public address makes reachability public', async () => {
    const t = tempDir()
    // announced only, never dialled: no traffic leaves loopback
    const net = await createNetwork({ config: testConfig(t.dir, { 'network.announce': ['/dns4/node.example.com/tcp/9000'] }) })
    try {
      const reach = nextEvent<Detail<'reachability:changed'>>(net, 'reachability:changed')
      await net.start()
      assert.equal((await reach).reachability, 'public')
      assert.deepEqual((await net.status()).announceAddrs.map(a => a.split('/p2p/')[0]), ['/dns4/node.example.com/tcp/9000'])
    } finally {
      await net.stop()
      t.cleanup()
    }
  })

  it('connect, identify and disconnect emit peer:connectedness and peer:identified', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      const aPeer = a.net.peerId.toString()
      const bPeer = b.net.peerId.toString()
      const connected = nextEvent<Detail<'peer:connectedness'>>(b.net, 'peer:connectedness', d => d.peerId === aPeer && d.connectedness === 'connected')
      const connectedOnA = nextEvent<Detail<'peer:connectedness'>>(a.net, 'peer:connectedness', d => d.peerId === bPeer && d.connectedness === 'connected')
      const identified = nextEvent<Detail<'peer:identified'>>(b.net, 'peer:identified', d => d.peerId === aPeer)
      await b.net.dial(a.net.host.getMultiaddrs()[0]!)
      await connected
      await connectedOnA
      const id = await identified
      assert.ok(id.protocols.includes('/ipfs/ping/1.0.0'), id.protocols.join())
      assert.ok(id.protocols.includes('/dmsnet/kad/1.0.0'), 'our DHT protocol id')
      assert.ok(id.listenAddrs.some(x => x.startsWith('/ip4/127.0.0.1/tcp/')))
      assert.match(id.agentVersion ?? '', /dmsnet/)

      const gone = nextEvent<Detail<'peer:connectedness'>>(a.net, 'peer:connectedness', d => d.peerId === bPeer && d.connectedness === 'not-connected')
      await b.net.hangUp(aPeer)
      await gone
      assert.equal(a.net.isConnected(bPeer), false)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('synthetic peer:identify events (public observed addresses, dispatched on the real host) map to nat:type-changed', async () => {
    // Loopback cannot show a NAT; feed the real host the identify events a NATed node would get
    // (the address is only data here: nothing is ever sent to it).
    const a = await startNode()
    const peers = await Promise.all([startNode(), startNode(), startNode()])
    try {
      const changed = nextEvent<Detail<'nat:type-changed'>>(a.net, 'nat:type-changed')
      for (const p of peers) {
        const conn = await a.net.dial(p.net.host.getMultiaddrs()[0]!)
        const detail: IdentifyResult = {
          peerId: p.net.peerId,
          listenAddrs: [],
          protocols: [],
          observedAddr: multiaddr('/ip4/1.2.3.4/tcp/40001'),
          connection: conn
        }
        a.net.host.safeDispatchEvent('peer:identify', { detail })
      }
      const ev = await changed
      assert.deepEqual(ev, { transport: 'tcp', natType: 'endpoint-independent' })
      assert.equal((await a.net.status()).natType.tcp, 'endpoint-independent')
    } finally {
      await Promise.all([a.stop(), ...peers.map(async p => { await p.stop() })])
    }
  })

  it('eventRegister returns a working unregister function', async () => {
    const t = tempDir()
    const net = await createNetwork({ config: testConfig(t.dir) })
    let n = 0
    const off = net.eventRegister('host:changed', () => { n++ })
    try {
      await net.start()
      assert.equal(n, 1)
      off()
      await net.switchProfile({ name: 'public', dhtProtocolPrefix: '/dmsnet', bootstrap: [] })
      assert.equal(n, 1)
    } finally {
      await net.stop()
      t.cleanup()
    }
  })
})

describe('connection gater', () => {
  it('a denied peer cannot connect, in either direction', async () => {
    const b = await startNode()
    const a = await startNode({ 'network.denyPeers': [b.net.peerId.toString()] })
    try {
      await a.net.handle(ECHO, echo)
      // outbound: refused before any packet is sent
      await assert.rejects(a.net.dial(b.net.host.getMultiaddrs()[0]!), DialError)
      // inbound: A drops the connection right after the handshake, so no stream gets through
      await assert.rejects(b.net.dialProtocol(a.net.host.getMultiaddrs()[0]!, ECHO), DialError)
      await waitFor(() => !a.net.isConnected(b.net.peerId) && !b.net.isConnected(a.net.peerId), 5000, 'no connection left')
      const denied = (await a.net.status()).denied!
      assert.ok(denied.dial >= 1, JSON.stringify(denied))
      assert.ok(denied.inbound >= 1, JSON.stringify(denied))
      // and a third, allowed, peer still gets through
      const c = await startNode()
      try {
        const s = await c.net.dialProtocol(a.net.host.getMultiaddrs()[0]!, ECHO)
        assert.equal(await roundTrip(s, 'allowed'), 'allowed')
      } finally {
        await c.stop()
      }
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('profile allowPeers admits listed peers only (and is read live)', async () => {
    const friend = await startNode()
    const stranger = await startNode()
    const allow = new Set([friend.net.peerId.toString()])
    const t = tempDir()
    const net = await createNetwork({ config: testConfig(t.dir), profile: { name: 'swarm:test', dhtProtocolPrefix: '/dmsnet-test', bootstrap: [], allowPeers: allow } })
    await net.start()
    try {
      await net.handle(ECHO, echo)
      const addr = net.host.getMultiaddrs()[0]!
      assert.equal(await roundTrip(await friend.net.dialProtocol(addr, ECHO), 'friend'), 'friend')
      await assert.rejects(stranger.net.dialProtocol(addr, ECHO), DialError)
      await assert.rejects(net.dial(stranger.net.host.getMultiaddrs()[0]!), DialError)
      await waitFor(() => !stranger.net.isConnected(net.peerId), 5000, 'stranger dropped')
      allow.add(stranger.net.peerId.toString())
      assert.equal(await roundTrip(await stranger.net.dialProtocol(addr, ECHO), 'now allowed'), 'now allowed')
    } finally {
      await Promise.all([net.stop(), friend.stop(), stranger.stop()])
      t.cleanup()
    }
  })
})

describe('switchProfile', () => {
  it('keeps the peer id, re-registers handlers, emits host:changed with the new profile', async () => {
    const t = tempDir()
    const net = await createNetwork({ config: testConfig(t.dir) })
    const other = await startNode()
    try {
      await net.start()
      await net.handle(ECHO, echo)
      const id = net.peerId.toString()
      const oldHost = net.host
      const swarm: HostProfile = { name: 'swarm:blue', dhtProtocolPrefix: '/dmsnet-blue', bootstrap: [] }
      const changed = nextEvent<Detail<'host:changed'>>(net, 'host:changed')
      await net.switchProfile(swarm)
      const ev = await changed
      assert.notEqual(net.host, oldHost)
      assert.equal(oldHost.status, 'stopped')
      assert.equal(ev.host, net.host)
      assert.equal(ev.profile.name, 'swarm:blue')
      assert.equal(net.profile.name, 'swarm:blue')
      assert.equal(net.host.peerId.toString(), id)
      assert.equal((await net.status()).profile, 'swarm:blue')
      assert.ok(net.host.getProtocols().includes('/dmsnet-blue/kad/1.0.0'))
      const s = await other.net.dialProtocol(net.host.getMultiaddrs()[0]!, ECHO)
      assert.equal(await roundTrip(s, 'still here'), 'still here')
    } finally {
      await Promise.all([net.stop(), other.stop()])
      t.cleanup()
    }
  })

  it('a handler registered while the host is being replaced ends up on the new host', async () => {
    const t = tempDir()
    const net = await createNetwork({ config: testConfig(t.dir) })
    const other = await startNode()
    try {
      await net.start()
      const switching = net.switchProfile({ name: 'swarm:green', dhtProtocolPrefix: '/dmsnet-green', bootstrap: [] })
      await new Promise(resolve => setImmediate(resolve))
      await net.handle('/dmsnet-test/late/1', echo)
      await switching
      assert.equal(net.profile.name, 'swarm:green')
      assert.ok(net.host.getProtocols().includes('/dmsnet-test/late/1'))
      assert.equal(await roundTrip(await other.net.dialProtocol(net.host.getMultiaddrs()[0]!, '/dmsnet-test/late/1'), 'late'), 'late')
    } finally {
      await Promise.all([net.stop(), other.stop()])
      t.cleanup()
    }
  })

  it('a profile whose host cannot start leaves the node on its previous profile', async () => {
    const t = tempDir()
    const net = await createNetwork({ config: testConfig(t.dir) })
    try {
      await net.start()
      await net.handle(ECHO, echo)
      const id = net.peerId.toString()
      const broken: HostProfile = {
        name: 'swarm:broken',
        dhtProtocolPrefix: '/dmsnet-broken',
        bootstrap: [],
        connectionProtector: () => { throw new Error('protector exploded') }
      }
      await assert.rejects(net.switchProfile(broken), /protector exploded/)
      assert.equal(net.started, true)
      assert.equal(net.profile.name, 'public')
      assert.equal(net.peerId.toString(), id)
      const other = await startNode()
      try {
        assert.equal(await roundTrip(await other.net.dialProtocol(net.host.getMultiaddrs()[0]!, ECHO), 'back'), 'back')
      } finally {
        await other.stop()
      }
    } finally {
      await net.stop()
      t.cleanup()
    }
  })
})

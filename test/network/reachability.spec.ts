/**
 * Pure logic: reachability from announced addresses, NAT type from observed addresses.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { classifyReachability, NatTypeTracker } from '../../src/network/reachability.js'
import { transportOf } from '../../src/network/network.js'

const ma = (s: string): ReturnType<typeof multiaddr> => multiaddr(s)

describe('classifyReachability', () => {
  it('maps address sets to unknown/private/public', () => {
    assert.equal(classifyReachability([]), 'unknown')
    assert.equal(classifyReachability([ma('/ip4/127.0.0.1/tcp/1'), ma('/ip4/192.168.1.5/tcp/1'), ma('/ip6/::1/tcp/1')]), 'private')
    assert.equal(classifyReachability([ma('/ip4/10.0.0.1/tcp/1/p2p/12D3KooWLch56b7f7e54Q25CspFdaoKQLstqm3qrYqKuiXySrx5m/p2p-circuit')]), 'private')
    assert.equal(classifyReachability([ma('/ip4/1.2.3.4/tcp/1/p2p/12D3KooWLch56b7f7e54Q25CspFdaoKQLstqm3qrYqKuiXySrx5m/p2p-circuit')]), 'private', 'a public relay does not make us public')
    assert.equal(classifyReachability([ma('/ip4/127.0.0.1/tcp/1'), ma('/ip4/8.8.4.4/tcp/4001')]), 'public')
    assert.equal(classifyReachability([ma('/dns4/example.com/tcp/443/wss')]), 'public')
    assert.equal(classifyReachability([ma('/ip6/2606:4700::1111/tcp/1')]), 'public')
  })
})

describe('NatTypeTracker', () => {
  it('stays unknown below three public observers, ignores private and relayed observations', () => {
    const t = new NatTypeTracker()
    assert.equal(t.observe('p1', ma('/ip4/1.2.3.4/tcp/5000')), undefined)
    assert.equal(t.observe('p2', ma('/ip4/1.2.3.4/tcp/5000')), undefined)
    assert.equal(t.observe('p3', ma('/ip4/192.168.0.2/tcp/5000')), undefined)
    assert.equal(t.observe('p4', ma('/ip4/127.0.0.1/tcp/5000')), undefined)
    assert.equal(t.tcp, 'unknown')
  })

  it('same ip:port from 3 observers = endpoint-independent', () => {
    const t = new NatTypeTracker()
    t.observe('p1', ma('/ip4/1.2.3.4/tcp/5000'))
    t.observe('p2', ma('/ip4/1.2.3.4/tcp/5000'))
    assert.deepEqual(t.observe('p3', ma('/ip4/1.2.3.4/tcp/5000')), { transport: 'tcp', natType: 'endpoint-independent' })
    assert.equal(t.observe('p4', ma('/ip4/1.2.3.4/tcp/5000')), undefined, 'no event without a change')
    assert.equal(t.udp, 'unknown')
  })

  it('same ip, a port per observer = endpoint-dependent; a later majority flips it back', () => {
    const t = new NatTypeTracker()
    t.observe('p1', ma('/ip4/1.2.3.4/udp/5001/quic-v1'))
    t.observe('p2', ma('/ip4/1.2.3.4/udp/5002/quic-v1'))
    assert.deepEqual(t.observe('p3', ma('/ip4/1.2.3.4/udp/5003/quic-v1')), { transport: 'udp', natType: 'endpoint-dependent' })
    // the same observer re-reporting replaces its old observation
    t.observe('p1', ma('/ip4/1.2.3.4/udp/6000/quic-v1'))
    t.observe('p2', ma('/ip4/1.2.3.4/udp/6000/quic-v1'))
    t.observe('p4', ma('/ip4/1.2.3.4/udp/6000/quic-v1'))
    assert.equal(t.udp, 'endpoint-independent')
  })

  it('keeps at most maxObservations observers', () => {
    const t = new NatTypeTracker({ maxObservations: 4 })
    for (let i = 0; i < 100; i++) t.observe(`p${i}`, ma(`/ip4/1.2.3.4/tcp/${1000 + i}`))
    assert.equal(t.tcp, 'endpoint-dependent')
  })
})

describe('transportOf', () => {
  it('names the transport of a remote address', () => {
    assert.equal(transportOf(ma('/ip4/1.2.3.4/tcp/1')), 'tcp')
    assert.equal(transportOf(ma('/ip4/1.2.3.4/tcp/1/ws')), 'websockets')
    assert.equal(transportOf(ma('/dns4/a.b/tcp/443/tls/ws')), 'websockets')
    assert.equal(transportOf(ma('/ip4/1.2.3.4/udp/1/quic-v1')), 'quic')
    assert.equal(transportOf(ma('/ip4/1.2.3.4/tcp/1/p2p/12D3KooWLch56b7f7e54Q25CspFdaoKQLstqm3qrYqKuiXySrx5m/p2p-circuit')), 'circuit-relay')
  })
})

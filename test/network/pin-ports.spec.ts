// Unit tests of pinListenPorts: which configured port-0 listen addresses get the bound port back.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { pinListenPorts } from '../../src/network/network.js'

describe('pinListenPorts', () => {
  it('replaces port 0 by the bound port, per address and transport', () => {
    const bound = ['/ip4/127.0.0.1/tcp/40001', '/ip4/127.0.0.1/tcp/40002/ws'].map(a => multiaddr(a))
    assert.deepEqual(
      pinListenPorts(['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/tcp/9000'], bound),
      ['/ip4/127.0.0.1/tcp/40001', '/ip4/127.0.0.1/tcp/40002/ws', '/ip4/127.0.0.1/tcp/9000'])
  })
  it('a wildcard address takes the port of any bound address of its family', () => {
    const bound = ['/ip4/10.1.2.3/tcp/40005', '/ip6/::1/tcp/40006'].map(a => multiaddr(a))
    assert.deepEqual(pinListenPorts(['/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/0'], bound), ['/ip4/0.0.0.0/tcp/40005', '/ip6/::/tcp/40006'])
  })
  it('leaves an address alone when nothing bound matches it', () => {
    assert.deepEqual(pinListenPorts(['/ip4/127.0.0.1/tcp/0'], [multiaddr('/ip4/127.0.0.2/tcp/5')]), ['/ip4/127.0.0.1/tcp/0'])
  })
})

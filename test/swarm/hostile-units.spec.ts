/**
 * Units for the key service's per-address accounting: which remote addresses share one slot budget
 * (an IPv4 address, an IPv6 /64, an IPv4-mapped IPv6 address as its IPv4 address).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addressKeyOf } from '../../src/swarm/key-service.js'

describe('key service address key', () => {
  it('IPv4 addresses count one by one', () => {
    assert.equal(addressKeyOf('/ip4/192.0.2.7/tcp/4001'), '192.0.2.7')
    assert.notEqual(addressKeyOf('/ip4/192.0.2.7/tcp/1'), addressKeyOf('/ip4/192.0.2.8/tcp/1'))
  })

  it('IPv6 addresses in one /64 share a budget; other /64s do not', () => {
    const a = addressKeyOf('/ip6/2001:db8:1:2::1/tcp/4001')
    assert.equal(a, '2001:db8:1:2::/64')
    assert.equal(addressKeyOf('/ip6/2001:db8:1:2:ffff:eeee:dddd:cccc/tcp/9'), a)
    assert.equal(addressKeyOf('/ip6/2001:0DB8:0001:0002:0:0:0:9/tcp/9'), a)
    assert.notEqual(addressKeyOf('/ip6/2001:db8:1:3::1/tcp/9'), a)
    assert.equal(addressKeyOf('/ip6/::1/tcp/9'), '0:0:0:0::/64')
  })

  it('an IPv4-mapped IPv6 address counts as its IPv4 address', () => {
    assert.equal(addressKeyOf('/ip6/::ffff:192.0.2.7/tcp/9'), '192.0.2.7')
    assert.equal(addressKeyOf('/ip6/::ffff:c000:207/tcp/9'), '192.0.2.7')
  })

  it('an unparsable IPv6 host is its own key (no crash)', () => {
    assert.equal(addressKeyOf('/ip6/1::2::3/tcp/9'), '1::2::3')
    assert.equal(addressKeyOf('/ip6/12345::/tcp/9'), '12345::')
    assert.equal(addressKeyOf('/ip6/1:2:3:4:5:6:7:8:9/tcp/9'), '1:2:3:4:5:6:7:8:9')
  })
})

// Address plan: deterministic first choice, collision probing, persistence, exhaustion.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createAddressPlan, preferredOffset } from '../../src/vpn/address-plan.js'
import { AddressExhaustedError } from '../../src/vpn/errors.js'
import { formatIPv4, formatIPv6, parseCidr, contains4, type Cidr4 } from '../../src/vpn/ip.js'

test('allocations are unique, inside the range, never network/broadcast, and stable', () => {
  const plan = createAddressPlan({ cidr: '100.64.0.0/24' })
  const range = parseCidr('100.64.0.0/24') as Cidr4
  const seen = new Set<number>()
  for (let i = 0; i < 254; i++) {
    const ip = plan.allocate(`peer-${i}`)
    assert.ok(contains4(range, ip))
    assert.notEqual(ip, range.base)
    assert.notEqual(ip, range.base + 255)
    assert.ok(!seen.has(ip), `duplicate ${formatIPv4(ip)}`)
    seen.add(ip)
    assert.equal(plan.allocate(`peer-${i}`), ip)
  }
  assert.throws(() => plan.allocate('one-too-many'), (e: Error) => e.name === AddressExhaustedError.name)
  plan.release('peer-3')
  assert.ok(seen.has(plan.allocate('one-too-many')))
})

test('colliding first choices are resolved by probing', () => {
  const plan = createAddressPlan({ cidr: '100.64.0.0/29' })
  // 6 hosts: find two ids with the same preferred offset
  const byOff = new Map<number, string>()
  let pair: [string, string] | undefined
  for (let i = 0; pair == null; i++) {
    const id = `id${i}`
    const off = preferredOffset(id, 6)
    const other = byOff.get(off)
    if (other != null) pair = [other, id]
    byOff.set(off, id)
  }
  const a = plan.allocate(pair[0])
  const b = plan.allocate(pair[1])
  assert.notEqual(a, b)
})

test('the plan survives a restart through its JSON form, and IPv6 embeds the IPv4 address', () => {
  const plan = createAddressPlan({ cidr: '100.96.0.0/12', ipv6Prefix: 'fd64:646d:736e::/64' })
  const ips = ['a', 'b', 'c'].map(p => plan.allocate(p))
  const again = createAddressPlan({ saved: JSON.parse(JSON.stringify(plan.toJSON())) })
  assert.deepEqual(['a', 'b', 'c'].map(p => again.get(p)), ips)
  assert.equal(formatIPv6(again.ipv6Of(parseCidr('100.96.1.2/32').base as number)), 'fd64:646d:736e::6460:102')
})

test('bad ranges are refused', () => {
  assert.throws(() => createAddressPlan({ cidr: 'fd00::/64' }), (e: Error) => e.name === 'InvalidArgumentError')
  assert.throws(() => createAddressPlan({ cidr: '100.64.0.0/31' }), (e: Error) => e.name === 'InvalidArgumentError')
  assert.throws(() => createAddressPlan({ ipv6Prefix: '2001:db8::/64' }), (e: Error) => e.name === 'InvalidArgumentError')
  assert.throws(() => createAddressPlan({ ipv6Prefix: 'fd00::/112' }), (e: Error) => e.name === 'InvalidArgumentError')
})

// Route table: destination lookup (addresses, extra prefixes, IPv6) and the anti-spoofing check.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRouteTable, VERDICT_MALFORMED, VERDICT_NOT_FOR_US, VERDICT_OK, VERDICT_SPOOFED } from '../../src/vpn/routes.js'
import { parseIPv4, parseIPv6 } from '../../src/vpn/ip.js'
import { buildIPv4, icmpEcho } from '../../src/vpn/packet.js'
import type { VpnMembership } from '../../src/vpn/membership.js'

const m: VpnMembership = {
  networkId: 'n', authority: 'A', version: 3, cidr: '100.64.0.0/10', ipv6Prefix: 'fd64:646d:736e::/64', domain: 'dmsnet', mtu: 1420,
  members: [
    { peerId: 'A', name: 'a', ipv4: '100.64.0.1', ipv6: 'fd64:646d:736e::6440:1', routes: ['10.1.0.0/24'], addrs: [] },
    { peerId: 'B', name: 'b', ipv4: '100.64.0.2', ipv6: 'fd64:646d:736e::6440:2', routes: ['10.2.0.0/16', 'fd99::/64'], addrs: [] },
    { peerId: 'C', name: 'c', ipv4: '100.64.0.3', ipv6: 'fd64:646d:736e::6440:3', routes: [], addrs: [] }
  ]
}

function v4 (src: string, dst: string): Uint8Array {
  return buildIPv4(parseIPv4(src), parseIPv4(dst), 1, icmpEcho(1, 1))
}

function v6 (src: string, dst: string): Uint8Array {
  const p = new Uint8Array(48)
  p[0] = 0x60
  p[4] = 0; p[5] = 8; p[6] = 58; p[7] = 64
  p.set(parseIPv6(src), 8)
  p.set(parseIPv6(dst), 24)
  return p
}

test('lookup finds members by IPv4, IPv6 and routed prefixes (longest first)', () => {
  const t = createRouteTable(m, 'A')
  const look = (p: Uint8Array): string | undefined => t.lookup(p, 0, p.byteLength)?.peerId
  assert.equal(look(v4('100.64.0.1', '100.64.0.2')), 'B')
  assert.equal(look(v4('100.64.0.1', '100.64.0.3')), 'C')
  assert.equal(look(v4('100.64.0.1', '10.2.3.4')), 'B')
  assert.equal(look(v4('100.64.0.1', '100.64.0.1')), undefined, 'self is not a peer')
  assert.equal(look(v4('100.64.0.1', '8.8.8.8')), undefined)
  assert.equal(look(v6('fd64:646d:736e::6440:1', 'fd64:646d:736e::6440:3')), 'C')
  assert.equal(look(v6('fd64:646d:736e::6440:1', 'fd99::5')), 'B')
  assert.equal(look(v6('fd64:646d:736e::6440:1', 'ff02::2')), undefined)
  assert.equal(t.lookup(new Uint8Array(10), 0, 10), undefined)
})

test('inbound: the source must be the sender, the destination must be us', () => {
  const t = createRouteTable(m, 'A')
  const B = t.byPeer.get('B')!
  const check = (p: Uint8Array): number => t.checkInbound(B, p, 0, p.byteLength)
  assert.equal(check(v4('100.64.0.2', '100.64.0.1')), VERDICT_OK)
  assert.equal(check(v4('10.2.9.9', '100.64.0.1')), VERDICT_OK, 'a prefix routed to B')
  assert.equal(check(v4('10.2.9.9', '10.1.0.7')), VERDICT_OK, 'to a prefix behind us')
  assert.equal(check(v4('100.64.0.3', '100.64.0.1')), VERDICT_SPOOFED, 'B claiming to be C')
  assert.equal(check(v4('1.2.3.4', '100.64.0.1')), VERDICT_SPOOFED)
  assert.equal(check(v4('100.64.0.2', '100.64.0.3')), VERDICT_NOT_FOR_US)
  assert.equal(check(v6('fd64:646d:736e::6440:2', 'fd64:646d:736e::6440:1')), VERDICT_OK)
  assert.equal(check(v6('fd64:646d:736e::6440:3', 'fd64:646d:736e::6440:1')), VERDICT_SPOOFED)
  assert.equal(check(v6('fd64:646d:736e::6440:2', 'fd64:646d:736e::6440:3')), VERDICT_NOT_FOR_US)
  assert.equal(check(new Uint8Array(30).fill(0x11)), VERDICT_MALFORMED)
  assert.equal(check(new Uint8Array(8)), VERDICT_MALFORMED)
})

test('a removed member is gone from the next snapshot', () => {
  const t = createRouteTable({ ...m, version: 4, members: m.members.filter(x => x.peerId !== 'C') }, 'A')
  const p = v4('100.64.0.1', '100.64.0.3')
  assert.equal(t.lookup(p, 0, p.byteLength), undefined)
  assert.equal(t.byPeer.has('C'), false)
  assert.equal(createRouteTable(undefined, 'A').checkInbound(t.byPeer.get('B')!, p, 0, p.byteLength), VERDICT_NOT_FOR_US)
})

test('members may only announce private prefixes as routes', async () => {
  const { isAllowedRoute, parseMembership } = await import('../../src/vpn/membership.js')
  for (const ok of ['10.1.0.0/24', '192.168.5.0/24', '172.20.0.0/16', '100.64.1.0/24', 'fd99::/64']) assert.ok(isAllowedRoute(ok), ok)
  for (const bad of ['0.0.0.0/0', '8.8.8.0/24', '10.0.0.0/7', '2001:db8::/32', '::/0', 'nonsense']) assert.ok(!isAllowedRoute(bad), bad)
  // parseMembership wants real peer ids (the table above does not care)
  const ids: Record<string, string> = { A: '12D3KooWHD2m6CZtzoJ1XbASZX5nemjbRpVSaWj386FqX3JFKJME', B: '12D3KooWGRaxaTzft7LCQTGmoPJ8i31vxVmtnCP6mdPs7UYFVbwq', C: '12D3KooWPdkZAUrdQtp45A8T2fRezY1on3ZkD83akk5jKs93r1jy' }
  const real = { ...m, authority: ids.A!, members: m.members.map(x => ({ ...x, peerId: ids[x.peerId]! })) }
  const hostile = { ...real, members: real.members.map(x => x.peerId === ids.B ? { ...x, routes: ['0.0.0.0/0'] } : x) }
  assert.throws(() => parseMembership(hostile), (e: Error) => e.name === 'InvalidFrameError')
  assert.equal(parseMembership(real).members.length, 3)
})

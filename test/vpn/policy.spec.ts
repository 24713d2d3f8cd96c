// The membership policy and the member's judgement of a received membership (pure logic: no
// network), the virtio_net_hdr check, and the host-hygiene helpers (files written without
// following links, sysctl restored). Each refusal names its error and sits next to the accepted case.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync, lstatSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMembershipPolicy } from '../../src/vpn/policy.js'
import { dialHints, judgeMembership, ownAddresses } from '../../src/vpn/member.js'
import { parseMembership, type VpnMembership } from '../../src/vpn/membership.js'
import { vnetHeaderOk } from '../../src/vpn/vnet-hdr.js'
import { createRouteTable, VERDICT_OK, VERDICT_SPOOFED } from '../../src/vpn/routes.js'
import { parseIPv6 } from '../../src/vpn/ip.js'
import { readFileNoFollow, writeFileAtomic, ensurePrivateDir } from '../../src/safe-file.js'
import { createSysctlGuard } from '../../src/vpn/sysctl.js'
import { readToken, writeToken } from '../../src/control/token.js'
import { createStateStore } from '../../src/vpn/state-store.js'

const A = '12D3KooWHD2m6CZtzoJ1XbASZX5nemjbRpVSaWj386FqX3JFKJME'
const B = '12D3KooWGRaxaTzft7LCQTGmoPJ8i31vxVmtnCP6mdPs7UYFVbwq'
const C = '12D3KooWPdkZAUrdQtp45A8T2fRezY1on3ZkD83akk5jKs93r1jy'

function membership (patch: Partial<VpnMembership> = {}, members?: VpnMembership['members']): VpnMembership {
  return {
    networkId: 'net-1', authority: A, version: 2, cidr: '100.64.0.0/10', ipv6Prefix: 'fd64:646d:736e::/64', domain: 'dmsnet', mtu: 1420,
    members: members ?? [
      { peerId: A, name: 'a', ipv4: '100.64.0.1', ipv6: 'fd64:646d:736e::6440:1', routes: [], addrs: [] },
      { peerId: B, name: 'b', ipv4: '100.64.0.2', ipv6: 'fd64:646d:736e::6440:2', routes: ['10.2.0.0/16'], addrs: [] },
      { peerId: C, name: 'c', ipv4: '100.64.0.3', ipv6: 'fd64:646d:736e::6440:3', routes: [], addrs: [] }
    ],
    ...patch
  }
}

const refused = (e: Error): boolean => e.name === 'MembershipRefusedError'

test('policy: the default membership passes; hostile prefixes and public self-addresses are refused', () => {
  const policy = createMembershipPolicy()
  assert.equal(policy.check(membership()).effective.members.length, 3)
  assert.throws(() => policy.check(membership({ cidr: '128.0.0.0/1' })), refused)
  assert.throws(() => policy.check(membership({ ipv6Prefix: '2000::/3' })), refused)
  assert.throws(() => policy.check(membership({ cidr: '0.0.0.0/0' })), refused)
  assert.throws(() => policy.check(membership({ cidr: '10.0.0.0/8' })), refused) // private, but not accepted by default
  const pub = membership().members.map(x => x.peerId === A ? { ...x, ipv4: '8.8.8.8' } : x)
  assert.throws(() => policy.check(membership({}, pub)), refused)
  const pub6 = membership().members.map(x => x.peerId === A ? { ...x, ipv6: '2001:db8::1' } : x)
  assert.throws(() => policy.check(membership({}, pub6)), refused)
  const dup6 = membership().members.map(x => x.peerId === C ? { ...x, ipv6: 'fd64:646d:736e::6440:2' } : x)
  assert.throws(() => policy.check(membership({}, dup6)), refused)
  // different addresses, same low 32 bits (the route table's index): C would shadow B
  const shadow6 = membership().members.map(x => x.peerId === C ? { ...x, ipv6: 'fd64:646d:736e:0:1::6440:2' } : x)
  assert.throws(() => policy.check(membership({}, shadow6)), (e: Error) => refused(e) && /low 32 bits/.test(e.message))
  const distinct6 = membership().members.map(x => x.peerId === C ? { ...x, ipv6: 'fd64:646d:736e:0:1::6440:3' } : x)
  assert.equal(policy.check(membership({}, distinct6)).effective.members.length, 3)
})

test('policy: accepted ranges are configurable but never wider than private space', () => {
  assert.throws(() => createMembershipPolicy({ acceptRanges: ['0.0.0.0/0'] }), (e: Error) => e.name === 'InvalidArgumentError')
  assert.throws(() => createMembershipPolicy({ acceptRanges: ['2000::/3'] }), (e: Error) => e.name === 'InvalidArgumentError')
  const ten = createMembershipPolicy({ acceptRanges: ['10.0.0.0/8', 'fc00::/7'] })
  const m = membership({ cidr: '10.9.0.0/16' }, membership().members.map((x, i) => ({ ...x, ipv4: `10.9.0.${i + 1}`, routes: [] })))
  assert.equal(ten.check(m).effective.cidr, '10.9.0.0/16')
  assert.throws(() => ten.check(membership()), refused) // 100.64/10 is no longer accepted there
})

test('policy: overlapping routes are refused; routes of members not trusted for routes are stripped', () => {
  const withRoutes = (r: Record<string, string[]>): VpnMembership => membership({}, membership().members.map(x => ({ ...x, routes: r[x.peerId] ?? [] })))
  const strict = createMembershipPolicy()
  assert.throws(() => strict.check(withRoutes({ [B]: ['100.64.0.0/10'] })), refused) // the VPN range itself
  assert.throws(() => strict.check(withRoutes({ [B]: ['100.64.0.3/32'] })), refused) // another member's address
  assert.throws(() => strict.check(withRoutes({ [B]: ['fd64:646d:736e::/80'] })), refused)
  assert.throws(() => strict.check(withRoutes({ [B]: ['10.2.0.0/16'], [C]: ['10.2.3.0/24'] })), refused) // another member's route
  const stripped = strict.check(withRoutes({ [B]: ['10.2.0.0/16'] }))
  assert.deepEqual(stripped.effective.members.find(x => x.peerId === B)!.routes, [])
  assert.deepEqual(stripped.stripped, [`${B} 10.2.0.0/16`])
  const trusting = createMembershipPolicy({ acceptRoutesFrom: [B] })
  assert.deepEqual(trusting.check(withRoutes({ [B]: ['10.2.0.0/16'] })).effective.members.find(x => x.peerId === B)!.routes, ['10.2.0.0/16'])
  // on the authority (its own choices) everything stays
  assert.deepEqual(strict.check(withRoutes({ [B]: ['10.2.0.0/16'] }), true).stripped, [])
})

test('parseMembership: peer ids must be peer ids (never multiaddrs), addrs multiaddrs', () => {
  const base = membership()
  assert.equal(parseMembership(base).members.length, 3)
  const bad = (patch: Record<string, unknown>): void => {
    const members = base.members.map(x => x.peerId === C ? { ...x, ...patch } : x)
    assert.throws(() => parseMembership({ ...base, members }), (e: Error) => e.name === 'InvalidFrameError', JSON.stringify(patch))
  }
  bad({ peerId: '/ip4/192.168.1.1/tcp/22' })
  bad({ peerId: '/dns4/example.com/tcp/80' })
  bad({ peerId: 'QmNotAPeerIdAtAll' })
  bad({ ipv6: 'fd64:646d:736e::6440:3%eth0' })
  bad({ addrs: ['not a multiaddr'] })
  assert.throws(() => parseMembership({ ...base, authority: '/ip4/10.0.0.1/tcp/1' }), (e: Error) => e.name === 'InvalidFrameError')
  assert.throws(() => parseMembership({ ...base, networkId: '../../etc' }), (e: Error) => e.name === 'InvalidFrameError')
})

test('judgeMembership: authority, replay, invitation trust and switching', () => {
  const policy = createMembershipPolicy()
  const cur = membership()
  const ctx = { self: B, current: cur, from: A, trusted: () => true, policy }
  assert.equal(judgeMembership(ctx, { ...cur, version: 3 }).action, 'apply')
  assert.equal(judgeMembership(ctx, cur).action, 'ignore')
  assert.throws(() => judgeMembership(ctx, { ...cur, version: 1 }), (e: Error) => e.name === 'StaleMembershipError')
  assert.throws(() => judgeMembership({ ...ctx, from: C }, { ...cur, version: 3 }), (e: Error) => e.name === 'NotAuthorityError')
  assert.throws(() => judgeMembership({ ...ctx, from: C }, { ...cur, authority: C, version: 3 }), (e: Error) => e.name === 'NotAuthorityError')
  assert.equal(judgeMembership(ctx, { ...cur, version: 3, members: [] }).action, 'leave')
  // a membership naming us as authority, from someone else
  assert.throws(() => judgeMembership({ ...ctx, from: B, self: B }, { ...cur, networkId: 'other', authority: B }), (e: Error) => e.name === 'NotAuthorityError')
  // another VPN while in one: refused by default, allowed with allowNetworkSwitch
  const other = { ...cur, networkId: 'net-2', authority: C }
  assert.throws(() => judgeMembership({ ...ctx, from: C }, other), (e: Error) => e.name === 'InvitationRefusedError')
  const switching = judgeMembership({ ...ctx, from: C, policy: createMembershipPolicy({ allowNetworkSwitch: true }) }, other)
  assert.equal(switching.action, 'apply')
  assert.equal(switching.action === 'apply' ? switching.switchFrom : undefined, 'net-1')
  // untrusted inviter, and a hostile invitation from a trusted one
  assert.throws(() => judgeMembership({ ...ctx, current: undefined, from: C, trusted: () => false }, other), (e: Error) => e.name === 'InvitationRefusedError')
  assert.equal(judgeMembership({ ...ctx, current: undefined, from: C }, other).action, 'apply')
  assert.throws(() => judgeMembership({ ...ctx, current: undefined, from: C }, { ...other, cidr: '128.0.0.0/1' }), refused)
})

test('route table: an IPv6 source is checked on all 128 bits', () => {
  const table = createRouteTable(membership(), A)
  const b = table.byPeer.get(B)!
  const pkt = (src: string, dst: string): Uint8Array => {
    const p = new Uint8Array(48)
    p[0] = 0x60; p[5] = 8; p[6] = 58; p[7] = 64
    p.set(parseIPv6(src), 8)
    p.set(parseIPv6(dst), 24)
    return p
  }
  assert.equal(table.checkInbound(b, pkt('fd64:646d:736e::6440:2', 'fd64:646d:736e::6440:1'), 0, 48), VERDICT_OK)
  // same low 32 bits, different upper bits inside the prefix: spoofed
  assert.equal(table.checkInbound(b, pkt('fd64:646d:736e:0:1::6440:2', 'fd64:646d:736e::6440:1'), 0, 48), VERDICT_SPOOFED)
  assert.equal(table.checkInbound(b, pkt('fd64:646d:736e::6440:3', 'fd64:646d:736e::6440:1'), 0, 48), VERDICT_SPOOFED)
  assert.equal(table.lookup(pkt('fd64:646d:736e::6440:1', 'fd64:646d:736e:0:9::6440:2'), 0, 48), undefined)
  assert.equal(table.lookup(pkt('fd64:646d:736e::6440:1', 'fd64:646d:736e::6440:2'), 0, 48)?.peerId, B)
})

/** A record payload: 10-byte virtio_net_hdr + an IPv4/TCP packet of `len` bytes. */
function tcpRecord (hdr: { flags?: number, gso?: number, hdrLen?: number, gsoSize?: number, csumStart?: number, csumOffset?: number }, len = 4000, v6 = false): Uint8Array {
  const r = new Uint8Array(10 + len)
  const dv = new DataView(r.buffer)
  r[0] = hdr.flags ?? 0
  r[1] = hdr.gso ?? 0
  dv.setUint16(2, hdr.hdrLen ?? 0, true)
  dv.setUint16(4, hdr.gsoSize ?? 0, true)
  dv.setUint16(6, hdr.csumStart ?? 0, true)
  dv.setUint16(8, hdr.csumOffset ?? 0, true)
  if (v6) {
    r[10] = 0x60
    dv.setUint16(10 + 4, len - 40)
    r[10 + 6] = 6
  } else {
    r[10] = 0x45
    dv.setUint16(10 + 2, len)
    r[10 + 9] = 6
  }
  return r
}

test('virtio_net_hdr: what our kernel hands out passes; anything steering GSO or checksums elsewhere is refused', () => {
  const ok = (r: Uint8Array): boolean => vnetHeaderOk(r, 0, r.byteLength - 10)
  assert.ok(ok(tcpRecord({}, 60)))
  assert.ok(ok(tcpRecord({ flags: 1, csumStart: 20, csumOffset: 16 }, 60)))
  assert.ok(ok(tcpRecord({ flags: 1, gso: 1, hdrLen: 52, gsoSize: 1368, csumStart: 20, csumOffset: 16 })))
  assert.ok(ok(tcpRecord({ flags: 1, gso: 0x81, hdrLen: 52, gsoSize: 1368, csumStart: 20, csumOffset: 16 })))
  assert.ok(ok(tcpRecord({ flags: 1, gso: 4, hdrLen: 72, gsoSize: 1348, csumStart: 40, csumOffset: 16 }, 4000, true)))
  const bad: Array<Parameters<typeof tcpRecord>[0]> = [
    { flags: 4 }, // unknown flag
    { flags: 1, csumStart: 20, csumOffset: 4000 }, // checksum written past the packet
    { flags: 1, csumStart: 3, csumOffset: 16 }, // checksum inside the IP header
    { flags: 1, csumStart: 20, csumOffset: 6 }, // UDP's offset on a TCP packet
    { gso: 1, gsoSize: 1368, csumStart: 20, csumOffset: 16 }, // GSO without a partial checksum
    { flags: 1, gso: 1, gsoSize: 1, csumStart: 20, csumOffset: 16 }, // 1-byte segments
    { flags: 1, gso: 4, gsoSize: 1368, csumStart: 20, csumOffset: 16 }, // TCPv6 GSO on IPv4
    { flags: 1, gso: 3, gsoSize: 1368, csumStart: 20, csumOffset: 16 }, // UFO
    { flags: 1, gso: 5, gsoSize: 1368, csumStart: 20, csumOffset: 16 }, // UDP_L4 on TCP
    { flags: 1, gso: 9, gsoSize: 1368, csumStart: 20, csumOffset: 16 }, // unknown type
    { gso: 0x80 }, // ECN without GSO
    { gsoSize: 100 }, // a segment size without GSO
    { hdrLen: 5000 } // header length past the packet
  ]
  for (const h of bad) assert.ok(!ok(tcpRecord(h)), JSON.stringify(h))
  const lying = tcpRecord({ flags: 1, gso: 1, gsoSize: 1368, csumStart: 20, csumOffset: 16 })
  new DataView(lying.buffer).setUint16(12, 60000) // IP total length not the record's
  assert.ok(!ok(lying))
})

test('private files: written atomically without following a planted link; links refused on read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-safe-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const victim = join(dir, 'victim')
  writeFileSync(victim, 'precious')
  const file = join(dir, 'state.json')
  symlinkSync(victim, file)
  await writeFileAtomic(file, 'new')
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
  assert.ok(!lstatSync(file).isSymbolicLink())
  assert.equal(await readFileNoFollow(file), 'new')
  assert.equal(lstatSync(file).mode & 0o777, 0o600)
  rmSync(file)
  symlinkSync(victim, file)
  await assert.rejects(readFileNoFollow(file), { name: 'UnsafePathError' })
  // the token: same rules, and its directory must not be writable by others
  const tokenFile = join(dir, 'token')
  symlinkSync(victim, tokenFile)
  const token = await writeToken(tokenFile)
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
  assert.equal(await readToken(tokenFile), token)
  const open = join(dir, 'open')
  mkdirSync(open)
  chmodSync(open, 0o777)
  await assert.rejects(writeToken(join(open, 'token')), { name: 'UnsafePathError' })
  await assert.rejects(ensurePrivateDir(open), { name: 'UnsafePathError' })
})

test('state store: a data dir writable by others or a linked vpn dir is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-store-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const good = createStateStore(dir)
  await good.save({ membership: membership() })
  assert.equal((await good.load()).membership?.networkId, 'net-1')
  const elsewhere = join(dir, 'elsewhere')
  mkdirSync(elsewhere, { mode: 0o700 })
  const linked = join(dir, 'linked')
  mkdirSync(linked, { mode: 0o700 })
  symlinkSync(elsewhere, join(linked, 'vpn'))
  await assert.rejects(createStateStore(linked).save({ membership: membership() }), { name: 'UnsafePathError' })
  await assert.rejects(createStateStore(linked).load(), { name: 'VpnStateFileError' })
  chmodSync(dir, 0o777)
  await assert.rejects(good.save({ membership: membership() }), { name: 'UnsafePathError' })
  chmodSync(dir, 0o700)
})

test('sysctl guard: restores what it changed, leaves a value someone else changed since', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'dmsnet-sysctl-'))
  t.after(() => { rmSync(root, { recursive: true, force: true }) })
  mkdirSync(join(root, 'net/ipv4'), { recursive: true })
  mkdirSync(join(root, 'net/ipv6/conf/all'), { recursive: true })
  writeFileSync(join(root, 'net/ipv4/ip_forward'), '0\n')
  writeFileSync(join(root, 'net/ipv6/conf/all/forwarding'), '0\n')
  const g = createSysctlGuard(root)
  await g.set('net.ipv4.ip_forward', '1')
  await g.set('net.ipv6.conf.all.forwarding', '1')
  assert.equal(readFileSync(join(root, 'net/ipv4/ip_forward'), 'utf8').trim(), '1')
  writeFileSync(join(root, 'net/ipv6/conf/all/forwarding'), '2') // someone else's now
  await g.restore()
  assert.equal(readFileSync(join(root, 'net/ipv4/ip_forward'), 'utf8').trim(), '0')
  assert.equal(readFileSync(join(root, 'net/ipv6/conf/all/forwarding'), 'utf8').trim(), '2')
})

test('dial hints: only addresses of that peer, never this machine, link-local or multicast', () => {
  const own = new Set(['10.1.0.1', 'fd00::1'])
  const hints = dialHints(B, [
    '/ip4/10.1.0.2/tcp/4001', `/ip4/10.1.0.2/tcp/4001/p2p/${B}`, `/ip4/10.1.0.9/tcp/4001/p2p/${C}/p2p-circuit`, `/ip4/10.1.0.9/tcp/4001/p2p/${C}/p2p-circuit/p2p/${B}`,
    '/ip6/fd00::2/tcp/4001', '/ip6/::ffff:10.1.0.2/tcp/4001',
    `/ip4/10.1.0.3/tcp/4001/p2p/${C}`, '/ip4/127.0.0.1/tcp/22', '/ip6/::1/tcp/22', '/ip4/169.254.169.254/tcp/80', '/ip6/fe80::1/tcp/1', '/ip4/0.0.0.0/tcp/1', '/ip4/239.1.1.1/udp/1', 'garbage',
    // DNS names (localhost is this machine), IPv4-mapped loopback in both spellings, this machine's own addresses
    '/dns4/localhost/tcp/22', '/dns/localhost/tcp/22', '/dns6/localhost/tcp/22', '/dnsaddr/localhost', '/ip6/::ffff:127.0.0.1/tcp/22', '/ip6/::ffff:7f00:1/tcp/22',
    '/ip6/::/tcp/22', '/ip6/::ffff:169.254.169.254/tcp/80', '/ip4/10.1.0.1/tcp/22', '/ip6/fd00::1/tcp/22', '/ip6/fd00:0::0:1/tcp/22', '/ip6/::ffff:10.1.0.1/tcp/22', '/ip4/255.255.255.255/udp/1'
  ], own).map(m => m.toString())
  assert.deepEqual(hints, ['/ip4/10.1.0.2/tcp/4001', `/ip4/10.1.0.2/tcp/4001/p2p/${B}`, `/ip4/10.1.0.9/tcp/4001/p2p/${C}/p2p-circuit`, `/ip4/10.1.0.9/tcp/4001/p2p/${C}/p2p-circuit/p2p/${B}`,
    '/ip6/fd00::2/tcp/4001', '/ip6/::ffff:a01:2/tcp/4001'])
  // by default this machine's own interface addresses are excluded
  assert.deepEqual(dialHints(B, ['/ip4/127.0.0.1/tcp/1', '/ip4/10.99.0.7/tcp/1']).map(m => m.toString()), ['/ip4/10.99.0.7/tcp/1'])
  assert.ok(ownAddresses().has('127.0.0.1'))
})

// The VPN against a hostile member and a hostile authority, with real nodes in network namespaces:
// a (authority) and b (member) run a VPN; c is an idle node that trusts any inviter; x is an
// attacker (a vpn-node that accepts no invitation and sends crafted control frames and raw tunnel
// records built from the project's own libraries). Every refusal is checked against the victim's
// host state afterwards (ip route, ip -6 route, addresses, nft) and sits next to a positive control.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { requireRoot } from '../helpers/root.js'
import { createVpnWorld, specOf, waitUntil, type VpnNodeProc, type VpnWorld } from './vpn-harness.js'
import { buildIPv4, icmpEcho } from '../../src/vpn/packet.js'
import { formatIPv6, parseIPv4, parseIPv6 } from '../../src/vpn/ip.js'
import { parseMembership, type VpnMembership } from '../../src/vpn/membership.js'
import { createMembershipPolicy } from '../../src/vpn/policy.js'
import type { VpnStatus } from '../../src/vpn/types.js'

type Reply = { ok: true } | { ok: false, error: string } | { transportError: string }

async function ping (world: VpnWorld, n: VpnNodeProc, addr: string, count = 2): Promise<boolean> {
  const r = await world.net.status(n.ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', addr], { timeoutMs: 15_000 })
  return r.code === 0
}

/** What a membership could have changed on a host. */
async function hostState (world: VpnWorld, ns: string): Promise<Record<string, string>> {
  const [route, route6, addr, nft] = await Promise.all([
    world.net.exec(ns, 'ip', ['route']),
    world.net.exec(ns, 'ip', ['-6', 'route']),
    world.net.exec(ns, 'ip', ['-br', 'addr']),
    world.net.exec(ns, 'nft', ['list', 'ruleset'])
  ])
  return { route, route6, addr, nft }
}

function membershipOf (st: VpnStatus): VpnMembership {
  return {
    networkId: st.networkId!, authority: st.authority!, version: st.version, cidr: st.cidr!, ipv6Prefix: st.ipv6Prefix!, domain: st.domain!, mtu: st.mtu!,
    members: st.peers.map(p => ({ peerId: p.peerId, name: p.name, ipv4: p.ipv4, ipv6: p.ipv6, routes: p.routes, addrs: [] }))
  }
}

/** A well-formed invitation from `x` to `victim` into x's own VPN (100.96.0.0/16). */
function invitation (x: VpnNodeProc, victim: VpnNodeProc, patch: { x?: Partial<VpnMembership['members'][0]>, victim?: Partial<VpnMembership['members'][0]> } & Partial<VpnMembership> = {}): VpnMembership {
  const { x: px, victim: pv, ...rest } = patch
  return {
    networkId: 'evil-1', authority: x.peerId, version: 1, cidr: '100.96.0.0/16', ipv6Prefix: 'fd77::/64', domain: 'evil', mtu: 1420,
    members: [
      { peerId: x.peerId, name: 'x', ipv4: '100.96.0.1', ipv6: 'fd77::6460:1', routes: [], addrs: [], ...px },
      { peerId: victim.peerId, name: 'v', ipv4: '100.96.0.2', ipv6: 'fd77::6460:2', routes: [], addrs: [], ...pv }
    ],
    ...rest
  }
}

async function send (from: VpnNodeProc, to: VpnNodeProc, body: { request?: unknown, rawHex?: string }): Promise<Reply> {
  return await from.call<Reply>('ctl', { peerId: to.peerId, ...body })
}

function refusedWith (r: Reply, name: string): void {
  assert.ok('ok' in r && !r.ok && r.error.startsWith(`${name}:`), `expected ${name}, got ${JSON.stringify(r)}`)
}

/** A member (never started) whose routes node c accepts. */
const ROUTER = '12D3KooWPdkZAUrdQtp45A8T2fRezY1on3ZkD83akk5jKs93r1jy'
const ZERO_HDR = '00'.repeat(10)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const echo4 = (src: string, dst: string): string => ZERO_HDR + hex(buildIPv4(parseIPv4(src), parseIPv4(dst), 1, icmpEcho(0x77, 1)))

/** An ICMPv6 echo request (checksum not filled: only our route table looks at it). */
function echo6 (src: Uint8Array, dst: string): string {
  const p = new Uint8Array(48)
  p[0] = 0x60; p[5] = 8; p[6] = 58; p[7] = 64
  p.set(src, 8)
  p.set(parseIPv6(dst), 24)
  p[40] = 128
  return ZERO_HDR + hex(p)
}

const peerOf = (st: VpnStatus, n: VpnNodeProc): VpnStatus['peers'][0] | undefined => st.peers.find(p => p.peerId === n.peerId)

test('vpn: a hostile member and a hostile authority change nothing they must not', { timeout: 300_000 }, async (t) => {
  if (!requireRoot(t)) return
  // c accepts routes from one (absent) member only: the positive control for route stripping
  const world = await createVpnWorld(t, ['a', 'b', 'c', 'x'], { argsFor: { x: ['--accept-invites', 'none'], c: ['--vpn-config', JSON.stringify({ acceptRoutesFrom: [ROUTER] })] } })
  t.after(async () => { await world.cleanup() })
  const [a, b, c, x] = world.nodes as [VpnNodeProc, VpnNodeProc, VpnNodeProc, VpnNodeProc]
  // the attacker reaches its victims directly (nobody gives it their addresses otherwise)
  for (const n of [b, c]) await x.call('dial', { addr: n.addrs[0] })

  const st = await a.call<VpnStatus>('start', { peers: [specOf(b)] })
  const ipOf = (n: VpnNodeProc): string => peerOf(st, n)!.ipv4
  const ip6Of = (n: VpnNodeProc): string => peerOf(st, n)!.ipv6
  await waitUntil(async () => (await b.call<VpnStatus>('status')).version === st.version, 20_000, 'b to apply the membership')
  await waitUntil(async () => await ping(world, b, ipOf(a), 1), 20_000, 'b -> a over the VPN')

  await t.test('control: non-authority, replayed version, malformed frames: refused, no state change, still serving', async () => {
    const before = await hostState(world, b.ns)
    const m = membershipOf(await a.call<VpnStatus>('status'))
    refusedWith(await send(x, b, { request: { type: 'membership', membership: { ...m, version: m.version + 1 } } }), 'NotAuthorityError')
    refusedWith(await send(x, b, { request: { type: 'membership', membership: { ...m, authority: x.peerId, version: m.version + 1 } } }), 'NotAuthorityError')
    // the authority's own older snapshot, replayed (with b at another address)
    const moved = m.members.map(y => y.peerId === b.peerId ? { ...y, ipv4: '100.64.77.77' } : y)
    refusedWith(await send(a, b, { request: { type: 'membership', membership: { ...m, version: m.version - 1, members: moved } } }), 'StaleMembershipError')
    // a membership naming b itself as authority: over the network the sender is never b, so the
    // check that the sender is the membership's authority refuses it (member.ts); the dedicated
    // "names us as authority" check is proven in test/vpn/policy.spec.ts `judgeMembership: ...`
    const namesB = await send(x, b, { request: { type: 'membership', membership: { ...m, networkId: 'mine', authority: b.peerId } } })
    refusedWith(namesB, 'NotAuthorityError')
    assert.match((namesB as { error: string }).error, /membership not sent by its authority/)
    refusedWith(await send(x, b, { request: { type: 'membership', membership: { ...m, members: 'all of them' } } }), 'InvalidFrameError')
    refusedWith(await send(x, b, { request: 42 }), 'InvalidFrameError')
    refusedWith(await send(x, b, { rawHex: '05' + hex(new TextEncoder().encode('{{{{{')) }), 'InvalidFrameError')
    // oversized frames (the bound is 1 MiB): refused on the length prefix, before any body is read
    refusedWith(await send(x, b, { rawHex: '80808080' + '04' + '00'.repeat(16) }), 'InvalidDataLengthLengthError') // varint 2^30: longer than a 1 MiB length needs
    refusedWith(await send(x, b, { rawHex: '818040' + '00'.repeat(16) }), 'InvalidDataLengthError') // 1 MiB + 1

    const sb = await b.call<VpnStatus>('status')
    assert.equal(sb.version, st.version)
    assert.equal(sb.networkId, st.networkId)
    assert.equal(sb.ipv4, ipOf(b))
    // the four memberships judged and refused; the malformed frames never got that far
    assert.equal(sb.policy.refused, 4, `refusals counted: ${JSON.stringify(sb.policy)}`)
    assert.deepEqual(await hostState(world, b.ns), before)
    assert.ok(await ping(world, b, ipOf(a)), 'b still serves')
  })

  await t.test('a VPN member cannot change the membership: the authority refuses what b sends', async () => {
    const before = await hostState(world, a.ns)
    const m = membershipOf(await a.call<VpnStatus>('status'))
    // b (a member) sends a newer version in a's name, moving itself, and one naming itself as authority
    const moved = m.members.map(y => y.peerId === b.peerId ? { ...y, ipv4: '100.64.77.77' } : y)
    const inAsName = await send(b, a, { request: { type: 'membership', membership: { ...m, version: m.version + 1, members: moved } } })
    refusedWith(inAsName, 'NotAuthorityError')
    assert.match((inAsName as { error: string }).error, /membership not sent by its authority/)
    const takeover = await send(b, a, { request: { type: 'membership', membership: { ...m, authority: b.peerId, version: m.version + 1 } } })
    refusedWith(takeover, 'NotAuthorityError')
    assert.match((takeover as { error: string }).error, /not the authority of this VPN/)
    const sa = await a.call<VpnStatus>('status')
    assert.equal(sa.version, st.version)
    assert.equal(sa.authority, a.peerId)
    assert.equal(peerOf(sa, b)!.ipv4, ipOf(b))
    assert.equal(sa.policy.refused, 2, `refusals counted: ${JSON.stringify(sa.policy)}`)
    assert.deepEqual(await hostState(world, a.ns), before)
    assert.ok(await ping(world, a, ipOf(b)), 'a still serves b')
  })

  await t.test('hostile invitation: public prefixes or self-address, a multiaddr as peer id, overlapping routes: refused; no device, route or dial', async () => {
    await x.call('tcpListen', { host: x.underlayIp, port: 4999 })
    const before = await hostState(world, c.ns)
    refusedWith(await send(x, c, { request: { type: 'membership', membership: invitation(x, c, { cidr: '128.0.0.0/1', ipv6Prefix: '2000::/3', x: { ipv4: '128.0.0.1', ipv6: '2000::1' }, victim: { ipv4: '128.0.0.2', ipv6: '2000::2' } }) } }), 'MembershipRefusedError')
    refusedWith(await send(x, c, { request: { type: 'membership', membership: invitation(x, c, { x: { ipv4: '8.8.8.8' } }) } }), 'MembershipRefusedError')
    refusedWith(await send(x, c, { request: { type: 'membership', membership: invitation(x, c, { x: { ipv6: '2001:4860::8888' } }) } }), 'MembershipRefusedError')
    refusedWith(await send(x, c, { request: { type: 'membership', membership: invitation(x, c, { x: { routes: ['100.96.0.0/17'] } }) } }), 'MembershipRefusedError')
    refusedWith(await send(x, c, { request: { type: 'membership', membership: invitation(x, c, { x: { routes: ['100.96.0.2/32'] } }) } }), 'MembershipRefusedError')
    refusedWith(await send(x, c, { request: { type: 'membership', membership: invitation(x, c, { x: { routes: ['0.0.0.0/0'] } }) } }), 'InvalidFrameError')
    const probe = `/ip4/${x.underlayIp}/tcp/4999`
    const third = { peerId: probe, name: 'lan', ipv4: '100.96.0.3', ipv6: 'fd77::6460:3', routes: [], addrs: [] }
    const withProbe = invitation(x, c)
    refusedWith(await send(x, c, { request: { type: 'membership', membership: { ...withProbe, members: [...withProbe.members, third] } } }), 'InvalidFrameError')

    const sc = await c.call<VpnStatus>('status')
    assert.equal(sc.state, 'idle')
    assert.deepEqual(await hostState(world, c.ns), before, 'no device, address, route or rule was added')
    assert.equal((await x.call<{ accepted: number }>('tcpSeen')).accepted, 0, 'c never dialled the multiaddr')
    // positive control: the listener does see a dial when c makes one
    await c.call('dial', { addr: probe }).catch(() => {})
    await waitUntil(async () => (await x.call<{ accepted: number }>('tcpSeen')).accepted >= 1, 10_000, 'the listener to see a dial')
  })

  await t.test('a valid invitation to an idle node is accepted; only trusted members\' routes are installed; ip_forward restored on stop', async () => {
    await world.net.exec(c.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0'])
    // routes away from the harness's underlay (10.<10 + pid % 200>.0.0/24): with 10.77/16 the run whose
    // pid % 200 was 67 saw its own underlay route and failed
    const inv = invitation(x, c, { x: { routes: ['172.29.0.0/16'] } })
    const router = { peerId: ROUTER, name: 'r', ipv4: '100.96.0.3', ipv6: 'fd77::6460:3', routes: ['172.28.0.0/16'], addrs: [] }
    const r = await send(x, c, { request: { type: 'membership', membership: { ...inv, members: [...inv.members, router] } } })
    assert.deepEqual(r, { ok: true })
    const sc = await c.call<VpnStatus>('status')
    assert.equal(sc.state, 'running')
    assert.equal(sc.ipv4, '100.96.0.2')
    assert.equal(sc.policy.routesStripped, 1)
    const hs = await hostState(world, c.ns)
    assert.match(hs.addr!, /100\.96\.0\.2\/16/)
    assert.match(hs.route!, /100\.96\.0\.0\/16 dev dvpn0/)
    assert.doesNotMatch(hs.route!, /172\.29\.0\.0/, 'the route of a member not in vpn.acceptRoutesFrom is not installed')
    assert.match(hs.route!, /172\.28\.0\.0\/16 dev dvpn0/, 'the route of a member in vpn.acceptRoutesFrom is')

    const job = await world.net.namespace('jc')
    await c.call('attach', { netns: job })
    assert.equal((await world.net.exec(c.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).trim(), '1')
    await c.call('stop', { forget: true })
    assert.equal((await world.net.exec(c.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).trim(), '0', 'ip_forward put back')
    const after = await hostState(world, c.ns)
    assert.doesNotMatch(after.addr!, /dvpn0/)
    assert.doesNotMatch(after.nft!, /dmsnet_vpn/)
  })

  await t.test('an address already in use: the authority giving a new member a member\'s IPv4, or its IPv6 low 32 bits, is refused; no state change', async () => {
    const before = await hostState(world, b.ns)
    const sb0 = await b.call<VpnStatus>('status')
    const m = membershipOf(await a.call<VpnStatus>('status'))
    const bMember = m.members.find(y => y.peerId === b.peerId)!
    const v6 = (flip: number): string => { const a6 = parseIPv6(bMember.ipv6); a6[9] = a6[9]! ^ flip; return formatIPv6(a6) }
    // an unused IPv4 in the range; an IPv6 inside the prefix that differs from b's in bits 72-79
    const newcomer = { peerId: x.peerId, name: 'newcomer', ipv4: '100.64.200.200', ipv6: v6(0x11), routes: [], addrs: [] }
    const next = (patch: Partial<typeof newcomer>): VpnMembership => ({ ...m, version: m.version + 1, members: [...m.members, { ...newcomer, ...patch }] })
    // from the real authority, in order: b's IPv4 given to the newcomer; an IPv6 sharing b's low 32 bits
    refusedWith(await send(a, b, { request: { type: 'membership', membership: next({ ipv4: bMember.ipv4 }) } }), 'InvalidFrameError')
    const clash6 = await send(a, b, { request: { type: 'membership', membership: next({}) } })
    refusedWith(clash6, 'MembershipRefusedError')
    assert.match((clash6 as { error: string }).error, /shares its low 32 bits/)
    // and a membership moving b onto a's address
    const moved = { ...m, version: m.version + 1, members: m.members.map(y => y.peerId === b.peerId ? { ...y, ipv4: ipOf(a) } : y) }
    refusedWith(await send(a, b, { request: { type: 'membership', membership: moved } }), 'InvalidFrameError')
    const sb = await b.call<VpnStatus>('status')
    assert.equal(sb.version, sb0.version)
    assert.equal(sb.ipv4, ipOf(b))
    assert.equal(sb.policy.refused, sb0.policy.refused + 1, 'the IPv6 clash judged and refused; the duplicates never parsed')
    assert.deepEqual(await hostState(world, b.ns), before)
    // positive control: the same newcomer with an IPv6 of its own passes b's parser and b's policy
    // (checked here with the same code rather than sent: b would then hold a version a never made)
    const own = next({ ipv6: formatIPv6(Uint8Array.from([...parseIPv6(bMember.ipv6).subarray(0, 12), 100, 64, 200, 200])) })
    assert.doesNotThrow(() => createMembershipPolicy().check(parseMembership(JSON.parse(JSON.stringify(own)))))
    assert.throws(() => createMembershipPolicy().check(parseMembership(JSON.parse(JSON.stringify(next({}))))), { name: 'MembershipRefusedError' })
    assert.ok(await ping(world, b, ipOf(a)), 'b still serves')
  })

  await t.test('an invitation to another VPN while running is refused by default', async () => {
    const before = await hostState(world, b.ns)
    const counts = (await b.call<VpnStatus>('status')).policy
    refusedWith(await send(x, b, { request: { type: 'membership', membership: invitation(x, b) } }), 'InvitationRefusedError')
    const sb = await b.call<VpnStatus>('status')
    assert.equal(sb.networkId, st.networkId)
    assert.equal(sb.policy.invitationsRefused, counts.invitationsRefused + 1)
    assert.equal(sb.policy.switches, 0)
    assert.deepEqual(await hostState(world, b.ns), before)
    assert.ok(await ping(world, b, ipOf(a)))
  })

  await t.test('from a member: spoofed sources (IPv4, IPv6 on all 128 bits) and a bad virtio_net_hdr are dropped and counted', async () => {
    await b.call('waitLink', { peerId: a.peerId })
    const before = peerOf(await a.call<VpnStatus>('status'), b)!
    const b6 = parseIPv6(ip6Of(b))
    const sameLow32 = Uint8Array.from(b6)
    sameLow32[9] = sameLow32[9]! ^ 0x55 // inside the prefix, b's last 32 bits, not b's address
    const badHdr = Buffer.from(echo4(ipOf(b), ipOf(a)), 'hex')
    badHdr[0] = 1
    badHdr[1] = 1
    badHdr[4] = 1 // NEEDS_CSUM + TCPv4 GSO, 1-byte segments, on an ICMP packet
    const payloads = [
      echo4('100.64.99.99', ipOf(a)), echo4('100.64.99.99', ipOf(a)),
      echo6(sameLow32, ip6Of(a)), echo6(sameLow32, ip6Of(a)),
      // another member's own addresses (a's) as the source
      echo4(ipOf(a), ipOf(a)), echo6(parseIPv6(ip6Of(a)), ip6Of(a)),
      hex(badHdr), hex(badHdr),
      echo6(b6, ip6Of(a)) // honest: counted as received
    ]
    assert.equal(await b.call('inject', { peerId: a.peerId, payloads }), true)
    await waitUntil(async () => {
      const now = peerOf(await a.call<VpnStatus>('status'), b)!
      return now.dropSpoofed >= before.dropSpoofed + 6 && now.dropBadOffload >= before.dropBadOffload + 2 && now.rxPackets >= before.rxPackets + 1
    }, 10_000, 'a to count the spoofed and malformed records')
    const now = peerOf(await a.call<VpnStatus>('status'), b)!
    assert.equal(now.dropSpoofed, before.dropSpoofed + 6)
    assert.equal(now.dropBadOffload, before.dropBadOffload + 2)
    assert.ok(await ping(world, b, ipOf(a)), 'the honest path still works')
  })

  await t.test('a removed member that keeps sending gets nothing through', async () => {
    const mx = await a.call<{ ipv4: string }>('add', { peer: specOf(x) })
    await waitUntil(async () => peerOf(await b.call<VpnStatus>('status'), x) != null, 20_000, 'b to take x in')
    const dataProtocol = '/dmsnet/vpn/1.0.0/vnet'
    const pkt = echo4(mx.ipv4, ipOf(b))
    // positive control: while a member, x's echo reaches b's kernel and the reply comes back
    await waitUntil(async () => {
      const s = await x.call<{ writeStatus: string } | null>('rawStats', { peerId: b.peerId })
      if (s?.writeStatus !== 'writable') await x.call('rawOpen', { peerId: b.peerId, protocol: dataProtocol }).catch(() => {})
      await x.call('rawSend', { peerId: b.peerId, payloads: [pkt] })
      return ((await x.call<{ rxMessages: number } | null>('rawStats', { peerId: b.peerId }))?.rxMessages ?? 0) > 0
    }, 20_000, 'x to get a reply from b while a member')
    assert.ok(peerOf(await b.call<VpnStatus>('status'), x)!.rxPackets > 0)

    await a.call('remove', { peerId: x.peerId })
    await waitUntil(async () => peerOf(await b.call<VpnStatus>('status'), x) == null, 20_000, 'b to drop x')
    const sb = await b.call<VpnStatus>('status')
    const rxBefore = (await x.call<{ rxMessages: number }>('rawStats', { peerId: b.peerId })).rxMessages
    // x keeps sending: on its old stream while it lasts, then on new ones
    for (let i = 0; i < 5; i++) {
      if (await x.call('rawSend', { peerId: b.peerId, payloads: [pkt, pkt] }) !== true) {
        await x.call('rawOpen', { peerId: b.peerId, protocol: dataProtocol }).catch(() => {})
        await x.call('rawSend', { peerId: b.peerId, payloads: [pkt, pkt] })
      }
    }
    await waitUntil(async () => (await b.call<VpnStatus>('status')).dropNotMember > sb.dropNotMember, 10_000, 'b to count x\'s refused traffic')
    // a known-good round trip a -> b -> a after x's attempts: anything x got into b's TUN would be there by now
    assert.ok(await ping(world, a, ipOf(b), 1))
    const after = await b.call<VpnStatus>('status')
    assert.equal(after.tun?.txPackets, (sb.tun?.txPackets ?? NaN) + 1, 'only a\'s echo request reached b\'s TUN')
    assert.equal((await x.call<{ rxMessages: number }>('rawStats', { peerId: b.peerId })).rxMessages, rxBefore, 'x got no reply')
    assert.equal(after.peers.some(p => p.peerId === x.peerId), false)
  })
})

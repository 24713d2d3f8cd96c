/**
 * The member's side of membership: whether a membership pushed to us (or fetched from the
 * authority) is applied, ignored, refused, or means we are out. Decided here, before anything
 * is applied, from who sent it, what we hold now, whom we trust and this node's policy.
 *
 * - only the membership's own authority may send it, and for the VPN we are in only its authority;
 * - an older version is a replay (refused), the same version is nothing new (ignored);
 * - a membership naming us as its authority is never taken from someone else;
 * - an invitation (another VPN) needs a trusted authority, and while we are in a VPN also the
 *   operator's consent to switch (`vpn.allowNetworkSwitch`);
 * - what is applied must pass the policy (policy.ts).
 */
import { networkInterfaces } from 'node:os'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { InvitationRefusedError, NotAuthorityError, StaleMembershipError } from './errors.js'
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip.js'
import type { VpnMembership } from './membership.js'
import type { MembershipPolicy, PolicyVerdict } from './policy.js'

export type MembershipDecision =
  | { action: 'ignore' }
  /** Removed from the VPN, or it was dissolved: leave and forget. */
  | { action: 'leave' }
  /** Apply `verdict.effective`; `switchFrom` is the VPN it replaces. */
  | { action: 'apply', verdict: PolicyVerdict, switchFrom?: string }

export interface JudgeContext {
  self: string
  /** The membership we hold (running or saved), if any. */
  current: VpnMembership | undefined
  /** The peer that sent `m`. */
  from: string
  trusted: (authority: string) => boolean
  policy: MembershipPolicy
}

/** Throws NotAuthorityError, StaleMembershipError, InvitationRefusedError or MembershipRefusedError. */
export function judgeMembership (ctx: JudgeContext, m: VpnMembership): MembershipDecision {
  const { self, current: cur, from } = ctx
  if (m.authority !== from) throw new NotAuthorityError('membership not sent by its authority')
  const inIt = m.members.some(x => x.peerId === self)
  if (cur != null && cur.networkId === m.networkId) {
    if (cur.authority !== from) throw new NotAuthorityError('not the authority of this VPN')
    if (m.version < cur.version) throw new StaleMembershipError(`membership version ${m.version} is older than ours (${cur.version})`)
    if (m.version === cur.version) return { action: 'ignore' }
    if (!inIt) return { action: 'leave' }
    return { action: 'apply', verdict: ctx.policy.check(m) }
  }
  if (m.authority === self) throw new NotAuthorityError('refusing a membership naming us as authority')
  if (!inIt) return { action: 'ignore' }
  if (!ctx.trusted(from)) throw new InvitationRefusedError('invitation refused: the authority is not trusted here')
  if (cur != null && !ctx.policy.allowNetworkSwitch) throw new InvitationRefusedError(`invitation refused: this node is in VPN ${cur.networkId} and vpn.allowNetworkSwitch is off`)
  return { action: 'apply', verdict: ctx.policy.check(m), switchFrom: cur?.networkId }
}

const LOCAL_ONLY_4 = [/^127\./, /^0\./, /^169\.254\./, /^2(2[4-9]|3\d)\./, /^2(4\d|5[0-5])\./]
const LOCAL_ONLY_6 = [/^::1?$/, /^fe[89ab][0-9a-f]:/i, /^ff[0-9a-f]{2}:/i]

/** This machine's own interface addresses (normalised as `ip.ts` formats them): a hint must not point at them. */
export function ownAddresses (): Set<string> {
  const out = new Set<string>()
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      const a = normalise(i.family === 'IPv4' ? 'ip4' : 'ip6', i.address.replace(/%.*$/, ''))
      if (a != null) out.add(a)
    }
  }
  return out
}

/** `ip4` address, or the IPv4 inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), as dotted text; other IPv6 in ip.ts's form. */
function normalise (proto: string, value: string): string | undefined {
  try {
    if (proto === 'ip4') return formatIPv4(parseIPv4(value))
    const b = parseIPv6(value)
    if (b.subarray(0, 10).every(x => x === 0) && b[10] === 0xff && b[11] === 0xff) return formatIPv4(new DataView(b.buffer, b.byteOffset).getUint32(12))
    return formatIPv6(b)
  } catch { return undefined }
}

function localOnly (addr: string): boolean {
  return addr.includes(':') ? LOCAL_ONLY_6.some(r => r.test(addr)) : LOCAL_ONLY_4.some(r => r.test(addr))
}

/**
 * The dial hints of a membership worth trusting for `peerId`: multiaddrs that parse, whose target
 * peer id (if any) is that peer's, and whose host is a literal IP address that is not this machine
 * (loopback, unspecified, one of `own`, also when written as IPv4-mapped IPv6) nor
 * link-local/multicast/broadcast: a hint must not make us connect to our own services. DNS names
 * are dropped: what they resolve to is not known here (`/dns4/localhost` is this machine). LAN
 * addresses stay: that is how members on one LAN find each other; see docs/security.md for what
 * that leaves open.
 */
export function dialHints (peerId: string, addrs: readonly string[], own: ReadonlySet<string> = ownAddresses()): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const a of addrs) {
    let m: Multiaddr
    try { m = multiaddr(a) } catch { continue }
    const parts = m.getComponents()
    // through a relay, the peer id after /p2p-circuit is the target's; the one before, the relay's
    const circuit = parts.findIndex(c => c.name === 'p2p-circuit')
    const target = parts.slice(circuit + 1).findLast(c => c.name === 'p2p')
    if (target != null && target.value !== peerId) continue
    const host = parts[0]
    if (host == null || (host.name !== 'ip4' && host.name !== 'ip6')) continue
    const addr = normalise(host.name, host.value ?? '')
    if (addr == null || localOnly(addr) || own.has(addr)) continue
    out.push(m)
  }
  return out
}

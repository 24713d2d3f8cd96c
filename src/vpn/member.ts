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
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { InvitationRefusedError, NotAuthorityError, StaleMembershipError } from './errors.js'
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

const LOCAL_ONLY = [/^127\./, /^0\./, /^169\.254\./, /^2(2[4-9]|3\d)\./, /^::1?$/, /^fe[89ab][0-9a-f]:/i, /^ff[0-9a-f]{2}:/i]

/**
 * The dial hints of a membership worth trusting for `peerId`: multiaddrs that parse, whose target
 * peer id (if any) is that peer's, and whose host is not this machine or link-local/multicast
 * (a hint must not make us connect to our own services). LAN addresses stay: that is how members
 * on one LAN find each other; see docs/security.md for what that leaves open.
 */
export function dialHints (peerId: string, addrs: readonly string[]): Multiaddr[] {
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
    if (host == null || ((host.name === 'ip4' || host.name === 'ip6') && LOCAL_ONLY.some(r => r.test(host.value ?? '')))) continue
    out.push(m)
  }
  return out
}

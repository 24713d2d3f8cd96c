/**
 * What a membership may do to this host. A membership (from the authority, or read back from the
 * state file) is checked here before any of it reaches the device, the kernel's routes or the
 * route table; a refusal leaves everything as it was.
 *
 * - its IPv4 and IPv6 prefixes lie inside the ranges this node accepts (default 100.64.0.0/10
 *   and fc00::/7; configurable, never wider than private space), so no prefix route it brings
 *   can capture public destinations or the default route;
 * - every member address lies inside those prefixes and is unique (IPv6: in its low 32 bits, by
 *   which the route table finds members), so the inbound source check never vouches for an
 *   address outside the VPN and no member shadows another;
 * - routes (prefixes behind a member) are private, overlap neither the VPN prefixes, nor a member
 *   address, nor another member's routes (so no member can claim another's source addresses);
 * - routes are kept only for members this node accepts routes from (`acceptRoutesFrom`); the
 *   others' routes are stripped from what is applied (the membership itself still holds).
 */
import { InvalidArgumentError } from '../errors.js'
import { MembershipRefusedError } from './errors.js'
import { configDefaults } from '../config/schema.js'
import { contains4, contains6, isPrivatePrefix, overlaps, PRIVATE_SPACE, parseCidr, parseIPv4, parseIPv6, within, type Cidr, type Cidr4, type Cidr6 } from './ip.js'

export { isPrivatePrefix, PRIVATE_SPACE, within } from './ip.js'
import type { VpnMembership } from './membership.js'

/** Ranges a membership's prefixes must lie in unless configured otherwise (the config schema's default). */
export const DEFAULT_ACCEPT_RANGES: readonly string[] = configDefaults.vpn.acceptRanges

export interface PolicyOptions {
  /** Prefixes a membership's `cidr` and `ipv6Prefix` must lie in; each inside private space. */
  acceptRanges?: readonly string[]
  /** Members (peer ids, or `*`) whose routes are installed here; this node's own id accepts routes the authority puts behind us. */
  acceptRoutesFrom?: readonly string[]
  /** Whether an invitation to another VPN may replace the one this node is in. */
  allowNetworkSwitch?: boolean
}

export interface PolicyVerdict {
  /** The membership as this node applies it (routes of members we do not accept routes from removed). */
  effective: VpnMembership
  /** Routes stripped from `effective`, as `peerId route`. */
  stripped: string[]
}

export interface MembershipPolicy {
  readonly allowNetworkSwitch: boolean
  routesAllowedFrom (peerId: string): boolean
  /**
   * Checks `m`; throws MembershipRefusedError. `ownRoutes` (true on the authority, which chose
   * every route itself) keeps all routes.
   */
  check (m: VpnMembership, ownRoutes?: boolean): PolicyVerdict
}

function refuse (why: string): never {
  throw new MembershipRefusedError(`membership refused: ${why}`)
}

function prefixOf (text: string, family: 4 | 6, what: string): Cidr {
  let c: Cidr
  try { c = parseCidr(text) } catch { refuse(`${what} ${text} is not a prefix`) }
  if (c.family !== family) refuse(`${what} ${text} is not an IPv${family} prefix`)
  return c
}

export function createMembershipPolicy (options: PolicyOptions = {}): MembershipPolicy {
  const ranges = (options.acceptRanges ?? DEFAULT_ACCEPT_RANGES).map(r => {
    let c: Cidr
    try { c = parseCidr(r) } catch (err) { throw new InvalidArgumentError(`vpn.acceptRanges: ${r} is not a prefix`, { cause: err }) }
    if (!isPrivatePrefix(c)) throw new InvalidArgumentError(`vpn.acceptRanges: ${r} is not inside private space (${PRIVATE_SPACE.join(', ')})`)
    return c
  })
  const routesFrom = new Set(options.acceptRoutesFrom ?? [])
  const routesAllowedFrom = (peerId: string): boolean => routesFrom.has('*') || routesFrom.has(peerId)

  return {
    allowNetworkSwitch: options.allowNetworkSwitch === true,
    routesAllowedFrom,
    check (m, ownRoutes = false) {
      const v4 = prefixOf(m.cidr, 4, 'cidr') as Cidr4
      const v6 = prefixOf(m.ipv6Prefix, 6, 'ipv6Prefix') as Cidr6
      if (!ranges.some(r => within(v4, r))) refuse(`cidr ${m.cidr} is outside the accepted ranges`)
      if (!ranges.some(r => within(v6, r))) refuse(`ipv6Prefix ${m.ipv6Prefix} is outside the accepted ranges`)
      const addrs6 = new Set<string>()
      const v4s: number[] = []
      const v6s: Uint8Array[] = []
      for (const x of m.members) {
        const a4 = parseIPv4(x.ipv4)
        const a6 = parseIPv6(x.ipv6)
        if (!contains4(v4, a4)) refuse(`member ${x.name} address ${x.ipv4} is outside ${m.cidr}`)
        if (!contains6(v6, a6)) refuse(`member ${x.name} address ${x.ipv6} is outside ${m.ipv6Prefix}`)
        // the route table finds a member by the low 32 bits of its IPv6 address (routes.ts), so
        // two members sharing them would let one shadow the other: they must differ there too
        const key = Buffer.from(a6.subarray(12)).toString('hex')
        if (addrs6.has(key)) refuse(`member address ${x.ipv6} shares its low 32 bits with another member's`)
        addrs6.add(key)
        v4s.push(a4)
        v6s.push(a6)
      }
      const claimed: Array<{ owner: string, c: Cidr }> = []
      const stripped: string[] = []
      const members = m.members.map(x => {
        for (const r of x.routes) {
          const c = parseCidr(r) // parseMembership already refused a malformed or public route
          if (!isPrivatePrefix(c)) refuse(`route ${r} of ${x.name} is not private`)
          if (overlaps(c, v4) || overlaps(c, v6)) refuse(`route ${r} of ${x.name} overlaps the VPN prefixes`)
          if (c.family === 4 ? v4s.some(a => contains4(c, a)) : v6s.some(a => contains6(c, a))) refuse(`route ${r} of ${x.name} covers a member address`)
          const clash = claimed.find(o => o.owner !== x.peerId && overlaps(o.c, c))
          if (clash != null) refuse(`route ${r} of ${x.name} overlaps a route of another member`)
          claimed.push({ owner: x.peerId, c })
        }
        if (ownRoutes || x.routes.length === 0 || routesAllowedFrom(x.peerId)) return x
        for (const r of x.routes) stripped.push(`${x.peerId} ${r}`)
        return { ...x, routes: [] }
      })
      return { effective: stripped.length === 0 ? m : { ...m, members }, stripped }
    }
  }
}

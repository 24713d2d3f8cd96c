/**
 * The membership snapshot: the authority's word on who is in the VPN and with which addresses.
 * It is what the control protocol carries, what members persist to survive restarts, and what the
 * routing table is built from. Validation here keeps a malformed or hostile snapshot out.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidFrameError } from './errors.js'
import { overlaps, parseCidr, type Cidr } from './ip.js'

export interface VpnMember {
  peerId: string
  /** DNS label (`<name>.<domain>`). */
  name: string
  ipv4: string
  ipv6: string
  /** Extra prefixes routed to this member (subnets behind it). */
  routes: string[]
  /** Multiaddrs the authority knew for the member: a hint for the others to dial it. */
  addrs: string[]
}

export interface VpnMembership {
  /** Random id of this VPN instance, chosen by the authority on first start. */
  networkId: string
  authority: string
  /** Raised by the authority on every change; members ignore anything not newer. */
  version: number
  cidr: string
  ipv6Prefix: string
  domain: string
  mtu: number
  members: VpnMember[]
}

/**
 * Prefixes a member may announce as routes: private ranges only, so a hostile authority cannot
 * pull a member's default route or public destinations into the tunnel.
 */
const PRIVATE_RANGES: Cidr[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'].map(parseCidr)

export function isAllowedRoute (route: string): boolean {
  let c: Cidr
  try { c = parseCidr(route) } catch { return false }
  return PRIVATE_RANGES.some(r => r.family === c.family && r.prefixLen <= c.prefixLen && overlaps(r, c))
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

export function isValidLabel (name: string): boolean {
  return LABEL.test(name)
}

function str (v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 512) throw new InvalidFrameError(`membership: bad ${what}`)
  return v
}

/** A peer id, never anything a dialler would take for a multiaddr or a name. */
function peerIdText (v: unknown, what: string): string {
  const s = str(v, what)
  if (!/^[1-9A-HJ-NP-Za-km-z]{32,128}$/.test(s)) throw new InvalidFrameError(`membership: ${what} is not a peer id`)
  try {
    if (peerIdFromString(s).toString() !== s) throw new Error('not canonical')
  } catch (err) {
    throw new InvalidFrameError(`membership: ${what} is not a peer id`, { cause: err })
  }
  return s
}

const DOMAIN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/
const NETWORK_ID = /^[A-Za-z0-9-]{1,64}$/

function strList (v: unknown, what: string, max: number): string[] {
  if (!Array.isArray(v) || v.length > max) throw new InvalidFrameError(`membership: bad ${what}`)
  return v.map(x => str(x, what))
}

/** Parses and validates an untrusted membership object. Throws InvalidFrameError. */
export function parseMembership (v: unknown): VpnMembership {
  if (v == null || typeof v !== 'object') throw new InvalidFrameError('membership: not an object')
  const o = v as Record<string, unknown>
  const version = o.version
  const mtu = o.mtu
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) throw new InvalidFrameError('membership: bad version')
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 1280 || mtu > 65535) throw new InvalidFrameError('membership: bad mtu')
  if (!Array.isArray(o.members) || o.members.length > 65536) throw new InvalidFrameError('membership: bad members')
  const cidr = str(o.cidr, 'cidr')
  const ipv6Prefix = str(o.ipv6Prefix, 'ipv6Prefix')
  try {
    parseCidr(cidr)
    parseCidr(ipv6Prefix)
  } catch {
    throw new InvalidFrameError('membership: bad prefix')
  }
  const seen = new Set<string>()
  const members = o.members.map((m: unknown): VpnMember => {
    if (m == null || typeof m !== 'object') throw new InvalidFrameError('membership: bad member')
    const r = m as Record<string, unknown>
    const member: VpnMember = {
      peerId: peerIdText(r.peerId, 'peerId'),
      name: str(r.name, 'name'),
      ipv4: str(r.ipv4, 'ipv4'),
      ipv6: str(r.ipv6, 'ipv6'),
      routes: strList(r.routes ?? [], 'routes', 64),
      addrs: strList(r.addrs ?? [], 'addrs', 32)
    }
    if (!isIPv4(member.ipv4) || !isIPv6(member.ipv6) || member.ipv6.includes('%')) throw new InvalidFrameError('membership: bad member address')
    for (const a of member.addrs) {
      try { multiaddr(a) } catch (err) { throw new InvalidFrameError('membership: bad member addr', { cause: err }) }
    }
    if (!isValidLabel(member.name)) throw new InvalidFrameError(`membership: bad member name ${member.name}`)
    for (const route of member.routes) {
      if (!isAllowedRoute(route)) throw new InvalidFrameError(`membership: route ${route} is not a private prefix`)
    }
    for (const key of [member.peerId, member.ipv4, member.name]) {
      if (seen.has(key)) throw new InvalidFrameError(`membership: duplicate ${key}`)
      seen.add(key)
    }
    return member
  })
  const networkId = str(o.networkId, 'networkId')
  if (!NETWORK_ID.test(networkId)) throw new InvalidFrameError('membership: bad networkId')
  const domain = str(o.domain, 'domain')
  if (domain.length > 253 || !DOMAIN.test(domain)) throw new InvalidFrameError('membership: bad domain')
  return {
    networkId,
    authority: peerIdText(o.authority, 'authority'),
    version,
    cidr,
    ipv6Prefix,
    domain,
    mtu,
    members
  }
}

/**
 * Address plan: which VPN addresses each member gets.
 *
 * One authority (the node that started the VPN) assigns; members take what its snapshot says, so
 * all members agree by construction. The authority's first choice for a peer is derived from the
 * peer id (SHA-256 of the id, modulo the host range), so a peer tends to get the same address in
 * every VPN of the same range; a collision is resolved by probing upward to the next free host
 * address. Allocations are kept by peer id and persisted by the caller (see `toJSON`), so a
 * restarted authority hands out exactly the same addresses.
 *
 * IPv6: each member's IPv6 address is the ULA prefix (at most /96) with the member's IPv4 address
 * in the last 32 bits, so one number identifies a member in both families.
 */
import { createHash } from 'node:crypto'
import { configDefaults } from '../config/schema.js'
import { InvalidArgumentError } from '../errors.js'
import { AddressExhaustedError } from './errors.js'
import { formatIPv4, formatIPv6, parseCidr, type Cidr4, type Cidr6 } from './ip.js'

/** Defaults of `vpn.cidr` / `vpn.ipv6Prefix`, from the config schema (their one source). */
export const DEFAULT_CIDR = configDefaults.vpn.cidr
export const DEFAULT_IPV6_PREFIX = configDefaults.vpn.ipv6Prefix

export interface AddressPlanJSON {
  cidr: string
  ipv6Prefix: string
  /** peer id -> IPv4 address */
  allocations: Record<string, string>
}

export interface AddressPlan {
  readonly cidr: Cidr4
  readonly ipv6Prefix: Cidr6
  /** The peer's IPv4 address, allocating one if it has none. */
  allocate (peerId: string): number
  release (peerId: string): void
  get (peerId: string): number | undefined
  ipv6Of (ipv4: number): Uint8Array
  entries (): Array<[string, number]>
  toJSON (): AddressPlanJSON
}

export function parseV4Range (cidr: string): Cidr4 {
  const c = parseCidr(cidr)
  if (c.family !== 4) throw new InvalidArgumentError(`vpn.cidr must be an IPv4 prefix: ${cidr}`)
  if (c.prefixLen > 30) throw new InvalidArgumentError(`vpn.cidr too small (needs at most /30): ${cidr}`)
  return c
}

export function parseV6Prefix (prefix: string): Cidr6 {
  const c = parseCidr(prefix)
  if (c.family !== 6) throw new InvalidArgumentError(`vpn.ipv6Prefix must be an IPv6 prefix: ${prefix}`)
  if (c.prefixLen > 96) throw new InvalidArgumentError(`vpn.ipv6Prefix must be /96 or shorter: ${prefix}`)
  if ((c.base[0]! & 0xfe) !== 0xfc) throw new InvalidArgumentError(`vpn.ipv6Prefix must be a unique local (fc00::/7) prefix: ${prefix}`)
  return c
}

/** IPv6 address of a member: the prefix with the IPv4 address in the low 32 bits. */
export function embedIPv4 (prefix: Cidr6, ipv4: number): Uint8Array {
  const out = new Uint8Array(prefix.base)
  out[12] = ipv4 >>> 24
  out[13] = (ipv4 >>> 16) & 255
  out[14] = (ipv4 >>> 8) & 255
  out[15] = ipv4 & 255
  return out
}

/** The authority's first choice for a peer: a host address derived from its id. */
export function preferredOffset (peerId: string, hosts: number): number {
  const h = createHash('sha256').update(peerId).digest()
  return h.readUInt32BE(0) % hosts
}

export function createAddressPlan (options: { cidr?: string, ipv6Prefix?: string, saved?: AddressPlanJSON } = {}): AddressPlan {
  const cidrText = options.cidr ?? options.saved?.cidr ?? DEFAULT_CIDR
  const v6Text = options.ipv6Prefix ?? options.saved?.ipv6Prefix ?? DEFAULT_IPV6_PREFIX
  const cidr = parseV4Range(cidrText)
  const ipv6Prefix = parseV6Prefix(v6Text)
  // Host addresses exclude the network and broadcast addresses.
  const size = 2 ** (32 - cidr.prefixLen)
  const hosts = size - 2
  const byPeer = new Map<string, number>()
  const taken = new Set<number>()

  if (options.saved != null && options.saved.cidr === cidrText) {
    for (const [peer, ip] of Object.entries(options.saved.allocations)) {
      const n = parseCidr(`${ip}/32`)
      if (n.family !== 4 || ((n.base & cidr.mask) >>> 0) !== cidr.base || taken.has(n.base)) continue
      byPeer.set(peer, n.base)
      taken.add(n.base)
    }
  }

  return {
    cidr,
    ipv6Prefix,
    allocate (peerId) {
      const have = byPeer.get(peerId)
      if (have != null) return have
      if (taken.size >= hosts) throw new AddressExhaustedError(`no free address left in ${cidrText}`)
      let off = preferredOffset(peerId, hosts)
      for (;;) {
        const ip = (cidr.base + 1 + off) >>> 0
        if (!taken.has(ip)) {
          byPeer.set(peerId, ip)
          taken.add(ip)
          return ip
        }
        off = (off + 1) % hosts
      }
    },
    release (peerId) {
      const ip = byPeer.get(peerId)
      if (ip == null) return
      byPeer.delete(peerId)
      taken.delete(ip)
    },
    get (peerId) {
      return byPeer.get(peerId)
    },
    ipv6Of (ipv4) {
      return embedIPv4(ipv6Prefix, ipv4)
    },
    entries () {
      return [...byPeer.entries()]
    },
    toJSON () {
      const allocations: Record<string, string> = {}
      for (const [p, ip] of byPeer) allocations[p] = formatIPv4(ip)
      return { cidr: cidrText, ipv6Prefix: v6Text, allocations }
    }
  }
}

export { formatIPv4, formatIPv6 }

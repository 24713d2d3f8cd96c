/**
 * The routing table: an immutable snapshot built from the membership (plus prefixes behind this
 * node), read by the data path for every packet. Control builds a new table and swaps it in; the
 * data path never waits for control.
 *
 * Two questions per packet:
 * - outbound: which member does this destination belong to? (`lookup`)
 * - inbound: may this member send this packet to us? (`checkInbound`: the inner source must be
 *   one of the sender's addresses or a prefix routed to it, and the destination must be ours or
 *   a prefix behind us). Anything else is dropped and counted by the caller.
 */
import { contains4, contains6, parseCidr, parseIPv4, parseIPv6, type Cidr4, type Cidr6 } from './ip.js'
import type { VpnMembership } from './membership.js'
import { DST6, dst4, ipVersion, low32, SRC6, src4 } from './packet.js'

export interface RouteEntry {
  peerId: string
  name: string
  ipv4: number
  ipv6: Uint8Array
  routes4: Cidr4[]
  routes6: Cidr6[]
}

export const VERDICT_OK = 0
export const VERDICT_MALFORMED = 1
export const VERDICT_SPOOFED = 2
export const VERDICT_NOT_FOR_US = 3
export type Verdict = 0 | 1 | 2 | 3

export interface RouteTable {
  readonly version: number
  /** This node's entry; undefined when we are not a member. */
  readonly self: RouteEntry | undefined
  readonly byPeer: ReadonlyMap<string, RouteEntry>
  /** Destination member of the IP packet at `off` (length `len`); undefined = no route. */
  lookup (buf: Uint8Array, off: number, len: number): RouteEntry | undefined
  checkInbound (from: RouteEntry, buf: Uint8Array, off: number, len: number): Verdict
}

function equal16 (buf: Uint8Array, off: number, addr: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (buf[off + i] !== addr[i]) return false
  return true
}

function splitRoutes (routes: string[]): { routes4: Cidr4[], routes6: Cidr6[] } {
  const routes4: Cidr4[] = []
  const routes6: Cidr6[] = []
  for (const r of routes) {
    const c = parseCidr(r)
    if (c.family === 4) routes4.push(c)
    else routes6.push(c)
  }
  return { routes4, routes6 }
}

export function createRouteTable (membership: VpnMembership | undefined, selfPeerId: string, localRoutes: string[] = []): RouteTable {
  const byPeer = new Map<string, RouteEntry>()
  const byAddr = new Map<number, RouteEntry>()
  /** Members by the last 32 bits of their IPv6 address; a hit is confirmed on all 128 bits. */
  const byLow6 = new Map<number, RouteEntry>()
  const extra4: Array<{ cidr: Cidr4, entry: RouteEntry }> = []
  const extra6: Array<{ cidr: Cidr6, entry: RouteEntry }> = []
  let self: RouteEntry | undefined
  const prefix6 = membership != null ? parseCidr(membership.ipv6Prefix) as Cidr6 : undefined

  for (const m of membership?.members ?? []) {
    const entry: RouteEntry = { peerId: m.peerId, name: m.name, ipv4: parseIPv4(m.ipv4), ipv6: parseIPv6(m.ipv6), ...splitRoutes(m.routes) }
    byPeer.set(m.peerId, entry)
    if (m.peerId === selfPeerId) {
      self = entry
      continue
    }
    byAddr.set(entry.ipv4, entry)
    byLow6.set(low32(entry.ipv6, 0), entry)
    for (const c of entry.routes4) extra4.push({ cidr: c, entry })
    for (const c of entry.routes6) extra6.push({ cidr: c, entry })
  }
  // Longest prefix first.
  extra4.sort((a, b) => b.cidr.prefixLen - a.cidr.prefixLen)
  extra6.sort((a, b) => b.cidr.prefixLen - a.cidr.prefixLen)
  const local = splitRoutes([...localRoutes, ...(self != null ? membership!.members.find(m => m.peerId === selfPeerId)!.routes : [])])

  function inPrefix6 (buf: Uint8Array, off: number): boolean {
    return prefix6 != null && contains6(prefix6, buf, off)
  }

  return {
    version: membership?.version ?? -1,
    self,
    byPeer,
    lookup (buf, off, len) {
      const v = ipVersion(buf, off, len)
      if (v === 4) {
        const d = dst4(buf, off)
        const hit = byAddr.get(d)
        if (hit != null) return hit
        for (const r of extra4) if (contains4(r.cidr, d)) return r.entry
        return undefined
      }
      if (v === 6) {
        if (inPrefix6(buf, off + DST6)) {
          const hit = byLow6.get(low32(buf, off + DST6))
          return hit != null && equal16(buf, off + DST6, hit.ipv6) ? hit : undefined
        }
        for (const r of extra6) if (contains6(r.cidr, buf, off + DST6)) return r.entry
      }
      return undefined
    },
    checkInbound (from, buf, off, len) {
      if (self == null) return VERDICT_NOT_FOR_US
      const v = ipVersion(buf, off, len)
      if (v === 4) {
        const s = src4(buf, off)
        if (s !== from.ipv4 && !from.routes4.some(c => contains4(c, s))) return VERDICT_SPOOFED
        const d = dst4(buf, off)
        if (d !== self.ipv4 && !local.routes4.some(c => contains4(c, d))) return VERDICT_NOT_FOR_US
        return VERDICT_OK
      }
      if (v === 6) {
        // all 128 bits: a member owns exactly its address, not every address ending like it
        const srcOk = equal16(buf, off + SRC6, from.ipv6) || from.routes6.some(c => contains6(c, buf, off + SRC6))
        if (!srcOk) return VERDICT_SPOOFED
        const dstOk = equal16(buf, off + DST6, self.ipv6) || local.routes6.some(c => contains6(c, buf, off + DST6))
        return dstOk ? VERDICT_OK : VERDICT_NOT_FOR_US
      }
      return VERDICT_MALFORMED
    }
  }
}

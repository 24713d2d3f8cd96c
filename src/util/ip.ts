/**
 * IPv4/IPv6 address and prefix arithmetic used by the VPN (address plan, routing table, packet
 * filter, membership policy) and by the config schema's checks. IPv4 addresses are unsigned 32-bit numbers (fast map keys on the data path);
 * IPv6 addresses are 16-byte arrays, with bigint only where prefixes are computed (control path).
 */
import { isIPv4, isIPv6 } from 'node:net'
import { InvalidArgumentError } from '../errors.js'

export interface Cidr4 {
  family: 4
  /** Network address (host bits cleared). */
  base: number
  prefixLen: number
  /** Netmask as an unsigned number. */
  mask: number
}

export interface Cidr6 {
  family: 6
  /** Network address bytes (host bits cleared). */
  base: Uint8Array
  prefixLen: number
}

export type Cidr = Cidr4 | Cidr6

export function parseIPv4 (s: string): number {
  if (!isIPv4(s)) throw new InvalidArgumentError(`not an IPv4 address: ${s}`)
  const p = s.split('.').map(Number)
  return (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0)
}

export function formatIPv4 (n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

export function parseIPv6 (s: string): Uint8Array {
  if (!isIPv6(s)) throw new InvalidArgumentError(`not an IPv6 address: ${s}`)
  let text = s
  const out = new Uint8Array(16)
  // An embedded dotted IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const dot = text.lastIndexOf(':')
  const tail = text.slice(dot + 1)
  if (tail.includes('.')) {
    const v4 = parseIPv4(tail)
    text = `${text.slice(0, dot + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`
  }
  const [head, rest] = text.split('::') as [string, string | undefined]
  const hs = head === '' ? [] : head.split(':')
  const rs = rest == null || rest === '' ? [] : rest.split(':')
  const groups = rest == null ? hs : [...hs, ...new Array<string>(8 - hs.length - rs.length).fill('0'), ...rs]
  if (groups.length !== 8) throw new InvalidArgumentError(`not an IPv6 address: ${s}`)
  groups.forEach((g, i) => {
    const v = parseInt(g, 16)
    out[i * 2] = v >> 8
    out[i * 2 + 1] = v & 255
  })
  return out
}

export function formatIPv6 (b: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!)
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

export function parseCidr (s: string): Cidr {
  const [addr, lenText] = s.split('/') as [string, string | undefined]
  if (lenText == null || !/^\d{1,3}$/.test(lenText)) throw new InvalidArgumentError(`not a CIDR prefix: ${s}`)
  const prefixLen = Number(lenText)
  if (isIPv4(addr)) {
    if (prefixLen > 32) throw new InvalidArgumentError(`IPv4 prefix length over 32: ${s}`)
    const mask = prefixLen === 0 ? 0 : ((0xffffffff << (32 - prefixLen)) >>> 0)
    return { family: 4, base: (parseIPv4(addr) & mask) >>> 0, prefixLen, mask }
  }
  if (isIPv6(addr)) {
    if (prefixLen > 128) throw new InvalidArgumentError(`IPv6 prefix length over 128: ${s}`)
    const base = parseIPv6(addr)
    for (let bit = prefixLen; bit < 128; bit++) base[bit >> 3]! &= ~(0x80 >> (bit & 7))
    return { family: 6, base, prefixLen }
  }
  throw new InvalidArgumentError(`not a CIDR prefix: ${s}`)
}

export function formatCidr (c: Cidr): string {
  return c.family === 4 ? `${formatIPv4(c.base)}/${c.prefixLen}` : `${formatIPv6(c.base)}/${c.prefixLen}`
}

export function contains4 (c: Cidr4, ip: number): boolean {
  return ((ip & c.mask) >>> 0) === c.base
}

/** Whether `ip` (16 bytes at `off` inside `buf`) lies inside `c`. */
export function contains6 (c: Cidr6, buf: Uint8Array, off = 0): boolean {
  const full = c.prefixLen >> 3
  for (let i = 0; i < full; i++) if (buf[off + i] !== c.base[i]) return false
  const rem = c.prefixLen & 7
  if (rem === 0) return true
  const m = (0xff << (8 - rem)) & 0xff
  return (buf[off + full]! & m) === c.base[full]
}

/** Whether two prefixes of the same family overlap. */
export function overlaps (a: Cidr, b: Cidr): boolean {
  if (a.family === 4 && b.family === 4) {
    const len = Math.min(a.prefixLen, b.prefixLen)
    const m = len === 0 ? 0 : ((0xffffffff << (32 - len)) >>> 0)
    return ((a.base & m) >>> 0) === ((b.base & m) >>> 0)
  }
  if (a.family === 6 && b.family === 6) {
    const shorter = a.prefixLen <= b.prefixLen ? a : b
    const other = shorter === a ? b : a
    return contains6(shorter, other.base)
  }
  return false
}

/** Private address space (RFC 1918, RFC 6598, RFC 4193): no accepted range, and no member route, may leave it. */
export const PRIVATE_SPACE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7']

const PRIVATE: Cidr[] = PRIVATE_SPACE.map(parseCidr)

/** `inner` lies entirely inside `outer` (same family, no shorter prefix). */
export function within (inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && outer.prefixLen <= inner.prefixLen && overlaps(outer, inner)
}

/** Whether the prefix lies inside private address space. */
export function isPrivatePrefix (c: Cidr): boolean {
  return PRIVATE.some(r => within(c, r))
}

/**
 * Just enough IP header reading for the data path: version, source and destination of a packet
 * at an offset inside a batch buffer, without allocating. IPv4 addresses come back as unsigned
 * numbers; IPv6 addresses are compared in place.
 */

/** IP version of the packet at `off` (4 or 6), or 0 when the buffer is too short or the version unknown. */
export function ipVersion (buf: Uint8Array, off: number, len: number): 0 | 4 | 6 {
  if (len < 20) return 0
  const v = buf[off]! >> 4
  if (v === 4) return 4
  if (v === 6 && len >= 40) return 6
  return 0
}

export function src4 (buf: Uint8Array, off: number): number {
  return ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0
}

export function dst4 (buf: Uint8Array, off: number): number {
  return ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0
}

/** Offset of the IPv6 source address relative to the packet start. */
export const SRC6 = 8
/** Offset of the IPv6 destination address relative to the packet start. */
export const DST6 = 24

/** Last 32 bits of an IPv6 address at `off` as a number (the part our plan embeds the IPv4 address in). */
export function low32 (buf: Uint8Array, off: number): number {
  return ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0
}

/** Builds a minimal IPv4 packet (header + payload, checksum filled); tests and spoof probes use it. */
export function buildIPv4 (src: number, dst: number, protocol: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const p = new Uint8Array(20 + payload.byteLength)
  const v = new DataView(p.buffer)
  p[0] = 0x45
  v.setUint16(2, p.byteLength)
  p[8] = ttl
  p[9] = protocol
  v.setUint32(12, src)
  v.setUint32(16, dst)
  let sum = 0
  for (let i = 0; i < 20; i += 2) sum += v.getUint16(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  v.setUint16(10, ~sum & 0xffff)
  p.set(payload, 20)
  return p
}

/** An ICMP echo request payload (type 8) with a valid checksum. */
export function icmpEcho (id: number, seq: number, data: Uint8Array = new Uint8Array(8)): Uint8Array {
  const p = new Uint8Array(8 + data.byteLength)
  const v = new DataView(p.buffer)
  p[0] = 8
  v.setUint16(4, id)
  v.setUint16(6, seq)
  p.set(data, 8)
  let sum = 0
  for (let i = 0; i + 1 < p.byteLength; i += 2) sum += v.getUint16(i)
  if ((p.byteLength & 1) === 1) sum += p[p.byteLength - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  v.setUint16(2, ~sum & 0xffff)
  return p
}

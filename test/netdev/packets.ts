/**
 * Test helpers that read and forge IPv4 packets (ICMP echo, UDP) for TUN tests.
 */
export function checksum (buf: Uint8Array, start = 0, end = buf.byteLength, initial = 0): number {
  let sum = initial
  for (let i = start; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!
  if ((end - start) % 2 === 1) sum += buf[end - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return (~sum) & 0xffff
}

export function ipv4 (s: string): number[] {
  return s.split('.').map(Number)
}

export function ipv4Text (p: Uint8Array, off: number): string {
  return `${p[off]}.${p[off + 1]}.${p[off + 2]}.${p[off + 3]}`
}

export interface Ipv4Info { version: number, protocol: number, src: string, dst: string, headerLen: number, totalLen: number }

export function parseIpv4 (p: Uint8Array): Ipv4Info {
  return { version: p[0]! >> 4, headerLen: (p[0]! & 0xf) * 4, protocol: p[9]!, src: ipv4Text(p, 12), dst: ipv4Text(p, 16), totalLen: (p[2]! << 8) | p[3]! }
}

/** Turns an ICMP echo request into the matching reply (swap addresses, type 0, fix checksums). */
export function echoReplyFor (req: Uint8Array): Uint8Array {
  const p = Uint8Array.from(req)
  const hl = (p[0]! & 0xf) * 4
  const src = p.slice(12, 16)
  p.copyWithin(12, 16, 20)
  p.set(src, 16)
  p[10] = 0; p[11] = 0
  const c = checksum(p, 0, hl)
  p[10] = c >> 8; p[11] = c & 0xff
  p[hl] = 0 // echo reply
  p[hl + 2] = 0; p[hl + 3] = 0
  const ic = checksum(p, hl, p.byteLength)
  p[hl + 2] = ic >> 8; p[hl + 3] = ic & 0xff
  return p
}

/** An IPv4/UDP packet with valid checksums. */
export function udpPacket (src: string, sport: number, dst: string, dport: number, payload: Uint8Array): Uint8Array {
  const total = 20 + 8 + payload.byteLength
  const p = new Uint8Array(total)
  p[0] = 0x45; p[2] = total >> 8; p[3] = total & 0xff; p[8] = 64; p[9] = 17
  p.set(ipv4(src), 12); p.set(ipv4(dst), 16)
  const c = checksum(p, 0, 20)
  p[10] = c >> 8; p[11] = c & 0xff
  const ulen = 8 + payload.byteLength
  p[20] = sport >> 8; p[21] = sport & 0xff; p[22] = dport >> 8; p[23] = dport & 0xff; p[24] = ulen >> 8; p[25] = ulen & 0xff
  p.set(payload, 28)
  // pseudo header sum
  let pseudo = 0
  for (let i = 12; i < 20; i += 2) pseudo += (p[i]! << 8) | p[i + 1]!
  pseudo += 17 + ulen
  const uc = checksum(p, 20, total, pseudo) || 0xffff
  p[26] = uc >> 8; p[27] = uc & 0xff
  return p
}

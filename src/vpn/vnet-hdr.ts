/**
 * Checks a peer's virtio_net_hdr before the record reaches our TUN device. With offloads on, the
 * kernel takes this header as an instruction (segment this into `gso_size` pieces, finish the
 * checksum at `csum_start + csum_offset`); a peer must not be able to steer the kernel's GSO and
 * checksum code with values our own kernel would never have produced. Only what a Linux TUN
 * hands out for TCP and UDP is accepted; anything else is refused and the caller drops the record.
 *
 * Layout (10 bytes, little-endian): flags u8, gso_type u8, hdr_len u16, gso_size u16,
 * csum_start u16, csum_offset u16.
 */
const F_NEEDS_CSUM = 1
const F_DATA_VALID = 2
const GSO_NONE = 0
const GSO_TCPV4 = 1
const GSO_TCPV6 = 4
const GSO_UDP_L4 = 5
const GSO_ECN = 0x80
const PROTO_TCP = 6
const PROTO_UDP = 17
/** TCP's checksum field offset in its header, UDP's in its. */
const CSUM_OFF_TCP = 16
const CSUM_OFF_UDP = 6
/** The smallest segment size Linux TCP uses (TCP_MIN_MSS); smaller would let one record fan out into thousands of segments. */
const MIN_GSO_SIZE = 88

function u16le (b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8)
}

/**
 * Whether the header at `off` is acceptable for the IP packet that follows it (`pktLen` bytes at
 * `off + 10`). Callers have already checked the IP version and the packet's addresses.
 */
export function vnetHeaderOk (buf: Uint8Array, off: number, pktLen: number): boolean {
  const flags = buf[off]!
  const gso = buf[off + 1]!
  const hdrLen = u16le(buf, off + 2)
  const gsoSize = u16le(buf, off + 4)
  const csumStart = u16le(buf, off + 6)
  const csumOffset = u16le(buf, off + 8)
  if ((flags & ~(F_NEEDS_CSUM | F_DATA_VALID)) !== 0) return false
  if (hdrLen > pktLen) return false
  const p = off + 10
  const version = buf[p]! >> 4
  let l3Len: number
  let proto: number
  if (version === 4) {
    l3Len = (buf[p]! & 0x0f) * 4
    if (l3Len < 20 || l3Len > pktLen) return false
    proto = buf[p + 9]!
  } else if (version === 6) {
    l3Len = 40
    if (pktLen < 40) return false
    proto = buf[p + 6]! // extension headers are not offloaded here: next header must be the L4 one
  } else {
    return false
  }
  if ((flags & F_NEEDS_CSUM) !== 0) {
    if (csumStart !== l3Len) return false
    if (proto === PROTO_TCP ? csumOffset !== CSUM_OFF_TCP : proto === PROTO_UDP ? csumOffset !== CSUM_OFF_UDP : true) return false
    if (csumStart + csumOffset + 2 > pktLen) return false
  }
  const type = gso & ~GSO_ECN
  if (type === GSO_NONE) return gso === GSO_NONE && gsoSize === 0
  // Segmentation: only TCP (v4/v6, ECN allowed) and UDP_L4, always with a partial checksum, an
  // IP length that matches the record, and a sane segment size.
  if ((flags & F_NEEDS_CSUM) === 0 || gsoSize < MIN_GSO_SIZE) return false
  if (type === GSO_TCPV4) {
    if (version !== 4 || proto !== PROTO_TCP) return false
  } else if (type === GSO_TCPV6) {
    if (version !== 6 || proto !== PROTO_TCP) return false
  } else if (type === GSO_UDP_L4) {
    if (proto !== PROTO_UDP || (gso & GSO_ECN) !== 0) return false
  } else {
    return false
  }
  const ipLen = version === 4 ? ((buf[p + 2]! << 8) | buf[p + 3]!) : 40 + ((buf[p + 4]! << 8) | buf[p + 5]!)
  if (ipLen !== pktLen) return false
  const l4Min = proto === PROTO_TCP ? 20 : 8
  return pktLen > l3Len + l4Min
}

/**
 * Superseded pure TCP ACKs in a TUN read batch: which ones the sender need not carry.
 *
 * Why (issue 13, VPN TCP CPU per GB): during a bulk transfer the receiving node reads the inner
 * TCP's ACKs from its TUN ~20 to a batch, all for one flow, each acknowledging a little more than
 * the one before. They travel in one stream message, so the far node gets them at the same
 * instant, and there it writes each to its TUN with a `write` of its own (a TUN takes one packet
 * per write) and its kernel runs the inner TCP's ACK processing once per packet. Only the last of
 * such a run says anything the others do not: a cumulative ACK carries all the earlier ones'
 * information. So a pure ACK is left out when the *next* record of the same batch is a pure ACK
 * of the same flow that acknowledges strictly more. Nothing is delayed and nothing else is ever
 * dropped: duplicate ACKs (same number: the fast-retransmit signal), ACKs with SACK or any option
 * other than NOP and timestamps, ACKs with data or any flag besides ACK (FIN, SYN, RST, PSH, URG,
 * ECE, CWR, AE), fragments and IPv6 packets with extension headers all go through untouched.
 * `DMSNET_VPN_ACK_THIN=0` turns it off (for before/after benchmarks).
 */
import { InvalidArgumentError } from '../errors.js'
import { RECORD_HEADER, readRecordLength } from '../netdev/records.js'

/** `DMSNET_VPN_ACK_THIN`: unset, 1/on/true -> on; 0/off/false -> off; anything else is a typo, refused. */
export function ackThinWanted (value: string | undefined): boolean {
  if (value == null || value === '' || ['1', 'on', 'true'].includes(value)) return true
  if (['0', 'off', 'false'].includes(value)) return false
  throw new InvalidArgumentError(`DMSNET_VPN_ACK_THIN: "${value}" is not one of 0, off, false, 1, on, true`)
}


const TCP = 6
const FLAG_ACK = 0x10
const OPT_EOL = 0
const OPT_NOP = 1
const OPT_TIMESTAMP = 8

function u16 (b: Uint8Array, o: number): number { return (b[o]! << 8) | b[o + 1]! }
function u32 (b: Uint8Array, o: number): number { return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0 }

/**
 * Where the TCP header of the pure ACK at `p` (an IP packet of `len` bytes in `b`) starts, or -1
 * when it is not a pure ACK this file may leave out.
 */
function pureAckTcp (b: Uint8Array, p: number, len: number): number {
  if (len < 40) return -1
  const v = b[p]! >> 4
  let t: number
  let ipPayload: number
  if (v === 4) {
    const ihl = (b[p]! & 15) * 4
    const total = u16(b, p + 2)
    if (ihl < 20 || total > len || b[p + 9] !== TCP) return -1
    if ((u16(b, p + 6) & 0x3fff) !== 0) return -1 // MF or a fragment offset
    t = p + ihl
    ipPayload = total - ihl
  } else if (v === 6) {
    if (len < 60 || b[p + 6] !== TCP) return -1 // extension headers: left alone
    t = p + 40
    ipPayload = u16(b, p + 4)
    if (40 + ipPayload > len) return -1
  } else {
    return -1
  }
  if (ipPayload < 20) return -1
  const doff = (b[t + 12]! >> 4) * 4
  // no data, ACK alone (the low bits of byte 12 hold AccECN's AE flag: must be clear too)
  if (doff < 20 || doff !== ipPayload || (b[t + 12]! & 0x0f) !== 0 || b[t + 13] !== FLAG_ACK) return -1
  for (let o = t + 20, end = t + doff; o < end;) {
    const kind = b[o]!
    if (kind === OPT_EOL) break
    if (kind === OPT_NOP) { o++; continue }
    if (kind === OPT_TIMESTAMP && o + 10 <= end && b[o + 1] === 10) { o += 10; continue }
    return -1 // SACK, anything else: keep the packet
  }
  return t
}

/**
 * True when the record at `off` of `batch` (records as src/netdev/records.ts frames them, each
 * payload starting with `hdr` bytes of virtio_net_hdr) is a pure ACK that the next record, a
 * pure ACK of the same flow acknowledging strictly more, makes redundant.
 */
export function supersededAck (batch: Uint8Array, off: number, hdr: number): boolean {
  const len = readRecordLength(batch, off)
  const next = off + RECORD_HEADER + len
  if (next + RECORD_HEADER > batch.byteLength) return false
  const nextLen = readRecordLength(batch, next)
  if (len !== nextLen || len <= hdr || next + RECORD_HEADER + nextLen > batch.byteLength) return false // pure ACKs of one flow have one size
  const p = off + RECORD_HEADER + hdr
  const q = next + RECORD_HEADER + hdr
  // offloads on: neither may be a GSO packet (an ACK never is)
  if (hdr > 0 && (batch[off + RECORD_HEADER + 1] !== 0 || batch[next + RECORD_HEADER + 1] !== 0)) return false
  const t = pureAckTcp(batch, p, len - hdr)
  if (t < 0) return false
  const tq = pureAckTcp(batch, q, len - hdr)
  if (tq < 0 || tq - q !== t - p) return false
  // same flow: addresses and ports
  const v4 = batch[p]! >> 4 === 4
  const addrFrom = v4 ? 12 : 8
  const addrTo = v4 ? 20 : 40
  for (let i = addrFrom; i < addrTo; i++) if (batch[p + i] !== batch[q + i]) return false
  if (u32(batch, t) !== u32(batch, tq)) return false
  const ahead = (u32(batch, tq + 8) - u32(batch, t + 8)) >>> 0
  return ahead > 0 && ahead < 0x80000000
}

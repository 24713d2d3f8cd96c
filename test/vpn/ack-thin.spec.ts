/**
 * Superseded pure ACKs (src/vpn/ack-thin.ts), on IPv4 and IPv6 TCP packets laid out as the TUN
 * hands them over (records with a virtio_net_hdr): a run of cumulative ACKs of one flow keeps only
 * its last; duplicate ACKs, SACK, data, other flags, other flows, fragments, extension headers,
 * a GSO record and a backwards ACK number are never left out; the sequence space wraps.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { supersededAck } from '../../src/vpn/ack-thin.js'
import { RECORD_HEADER, VNET_HDR_LEN } from '../../src/netdev/records.js'

interface Seg {
  v6?: boolean
  ack: number
  sport?: number
  flags?: number
  data?: number
  /** TCP options (default: NOP NOP timestamps) */
  opts?: number[]
  frag?: boolean
  extHeader?: boolean
  gso?: number
}

const TS = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]

function packet (s: Seg): Uint8Array {
  const opts = s.opts ?? TS
  const tcpLen = 20 + opts.length
  const data = s.data ?? 0
  const ipLen = s.v6 === true ? 40 : 20
  const p = new Uint8Array(ipLen + tcpLen + data)
  const dv = new DataView(p.buffer)
  if (s.v6 === true) {
    p[0] = 0x60
    dv.setUint16(4, tcpLen + data)
    p[6] = s.extHeader === true ? 0 : 6 // 0: hop-by-hop options
    p[7] = 64
    p.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8)
    p.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24)
  } else {
    p[0] = 0x45
    dv.setUint16(2, p.byteLength)
    if (s.frag === true) dv.setUint16(6, 0x2000) // MF
    p[8] = 64
    p[9] = 6
    p.set([10, 0, 0, 1, 10, 0, 0, 2], 12)
  }
  const t = ipLen
  dv.setUint16(t, s.sport ?? 5201)
  dv.setUint16(t + 2, 40000)
  dv.setUint32(t + 4, 1000)
  dv.setUint32(t + 8, s.ack >>> 0)
  p[t + 12] = (tcpLen / 4) << 4
  p[t + 13] = s.flags ?? 0x10
  dv.setUint16(t + 14, 512)
  p.set(opts, t + 20)
  return p
}

/** A TUN batch of records [u32 length | vnet header | packet]. */
function batch (segs: Seg[]): { buf: Uint8Array, offs: number[] } {
  const pkts = segs.map(packet)
  const buf = new Uint8Array(pkts.reduce((n, p) => n + RECORD_HEADER + VNET_HDR_LEN + p.byteLength, 0))
  const dv = new DataView(buf.buffer)
  const offs: number[] = []
  let off = 0
  pkts.forEach((p, i) => {
    offs.push(off)
    dv.setUint32(off, VNET_HDR_LEN + p.byteLength)
    buf[off + RECORD_HEADER + 1] = segs[i]!.gso ?? 0
    buf.set(p, off + RECORD_HEADER + VNET_HDR_LEN)
    off += RECORD_HEADER + VNET_HDR_LEN + p.byteLength
  })
  return { buf, offs }
}

function verdicts (segs: Seg[]): boolean[] {
  const { buf, offs } = batch(segs)
  return offs.map(o => supersededAck(buf, o, VNET_HDR_LEN))
}

test('a run of cumulative pure ACKs keeps only its last (IPv4 and IPv6)', () => {
  for (const v6 of [false, true]) {
    assert.deepEqual(verdicts([{ v6, ack: 100 }, { v6, ack: 200 }, { v6, ack: 300 }, { v6, ack: 400 }]), [true, true, true, false], v6 ? 'IPv6' : 'IPv4')
  }
  // without a vnet header (offloads off) the same
  const p1 = packet({ ack: 1 })
  const p2 = packet({ ack: 2 })
  const raw = new Uint8Array(2 * RECORD_HEADER + p1.byteLength + p2.byteLength)
  new DataView(raw.buffer).setUint32(0, p1.byteLength)
  raw.set(p1, RECORD_HEADER)
  new DataView(raw.buffer).setUint32(RECORD_HEADER + p1.byteLength, p2.byteLength)
  raw.set(p2, 2 * RECORD_HEADER + p1.byteLength)
  assert.equal(supersededAck(raw, 0, 0), true)
  assert.equal(supersededAck(raw, RECORD_HEADER + p1.byteLength, 0), false, 'the last record has no successor')
})

test('the ACK number wraps; a backwards or equal number keeps the packet (duplicate ACKs signal loss)', () => {
  assert.deepEqual(verdicts([{ ack: 0xfffffff0 }, { ack: 0x10 }]), [true, false])
  assert.deepEqual(verdicts([{ ack: 500 }, { ack: 400 }]), [false, false])
  assert.deepEqual(verdicts([{ ack: 500 }, { ack: 500 }, { ack: 500 }]), [false, false, false])
  assert.deepEqual(verdicts([{ ack: 500 }, { ack: 500 + 0x80000000 }]), [false, false], 'half the space ahead is not "more"')
})

test('never left out: SACK, data, other flags, other flows, fragments, extension headers, GSO', () => {
  const sack = [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]
  assert.deepEqual(verdicts([{ ack: 1, opts: sack }, { ack: 2, opts: sack }]), [false, false], 'SACK blocks')
  assert.deepEqual(verdicts([{ ack: 1 }, { ack: 2, opts: sack }]), [false, false], 'the next one has SACK')
  assert.deepEqual(verdicts([{ ack: 1, data: 1 }, { ack: 2, data: 1 }]), [false, false], 'data')
  for (const flags of [0x11, 0x12, 0x14, 0x18, 0x30, 0x50, 0x90]) {
    assert.deepEqual(verdicts([{ ack: 1, flags }, { ack: 2 }]), [false, false], `flags 0x${flags.toString(16)}`)
    assert.deepEqual(verdicts([{ ack: 1 }, { ack: 2, flags }]), [false, false], `next flags 0x${flags.toString(16)}`)
  }
  assert.deepEqual(verdicts([{ ack: 1, sport: 1 }, { ack: 2, sport: 2 }]), [false, false], 'another flow')
  assert.deepEqual(verdicts([{ ack: 1 }, { ack: 2, v6: true }]), [false, false], 'another family')
  assert.deepEqual(verdicts([{ ack: 1, frag: true }, { ack: 2, frag: true }]), [false, false], 'fragments')
  assert.deepEqual(verdicts([{ v6: true, ack: 1, extHeader: true }, { v6: true, ack: 2, extHeader: true }]), [false, false], 'extension headers')
  assert.deepEqual(verdicts([{ ack: 1, gso: 1 }, { ack: 2 }]), [false, false], 'a GSO record')
  assert.deepEqual(verdicts([{ ack: 1, opts: [] }, { ack: 2, opts: [] }]), [true, false], 'no options at all is a pure ACK too')
})

test('torn or short input is never read past its end', () => {
  const { buf, offs } = batch([{ ack: 1 }, { ack: 2 }])
  assert.equal(supersededAck(buf.subarray(0, buf.byteLength - 1), offs[0]!, VNET_HDR_LEN), false, 'the next record is cut short')
  assert.equal(supersededAck(buf.subarray(0, offs[1]! + 2), offs[0]!, VNET_HDR_LEN), false, 'the next header is cut short')
  const tiny = new Uint8Array([0, 0, 0, 2, 0x45, 0, 0, 0, 0, 2, 0x45, 0])
  assert.equal(supersededAck(tiny, 0, 0), false)
})

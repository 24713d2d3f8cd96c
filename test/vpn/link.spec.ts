// PeerLink on in-memory stream pairs: ordered delivery through the reassembler, the tie-break
// between a designated-dialer stream and a fallback one, and drop-tail while no stream is open.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import { PeerLink } from '../../src/vpn/link.js'
import { buildBatch, iterateRecords } from '../../src/netdev/records.js'
import { waitFor } from '../helpers/wait.js'
import { pureTcpAck } from '../../src/vpn/packet.js'

function link (got: Uint8Array[] = [], maxQueueBytes = 1 << 20): PeerLink {
  return new PeerLink({
    peerId: 'peer',
    maxQueueBytes,
    minPayload: 20,
    onRecords: (_l, run) => { got.push(...Array.from(iterateRecords(run), p => p.slice())) },
    onStreamClosed: () => {}
  })
}

const payload = (n: number): Uint8Array => new Uint8Array(40).fill(n)

test('records queued before the stream exists are sent in order once it is attached', async () => {
  const got: Uint8Array[] = []
  const tx = link()
  const rx = link(got)
  for (let i = 0; i < 10; i++) tx.send(buildBatch([payload(i)]), 1)
  assert.equal(tx.queuedBytes, 10 * 44)
  const [out, inb] = await streamPair()
  rx.attach(inb, false)
  tx.attach(out, false)
  for (let i = 10; i < 20; i++) tx.send(buildBatch([payload(i)]), 1)
  await waitFor(() => got.length >= 20, 15_000, '20 records delivered')
  assert.deepEqual(got.map(p => p[0]), Array.from({ length: 20 }, (_, i) => i))
  assert.equal(tx.stats.txPackets, 20)
  assert.equal(tx.queuedBytes, 0)
})

test('a live stream from the designated dialer is not replaced by a fallback stream, but replaces one', async () => {
  const l = link()
  const [p1] = await streamPair()
  const [f1] = await streamPair()
  assert.equal(l.attach(p1, false, true), true)
  assert.equal(l.attach(f1, false, false), false, 'fallback refused while the preferred stream is live')
  assert.equal(l.stream, p1)
  const l2 = link()
  const [f2] = await streamPair()
  const [p2] = await streamPair()
  assert.equal(l2.attach(f2, false, false), true)
  assert.equal(l2.attach(p2, true, true), true, 'the designated dialer\'s stream wins')
  assert.equal(l2.stream, p2)
  assert.equal(l2.relayed, true)
})

test('without a stream the queue is bounded: drop-tail, counted', () => {
  const l = link([], 1000)
  for (let i = 0; i < 50; i++) l.send(buildBatch([payload(i)]), 1)
  assert.ok(l.queuedBytes <= 1000)
  assert.equal(l.stats.dropQueueFull, 50 - Math.floor(1000 / 44))
})

/** An IPv4 TCP segment from 10.0.0.1 to 10.0.0.2: `flags`, `data` bytes of payload, 12 bytes of options. */
function tcp4 (flags: number, data = 0, tag = 0): Uint8Array {
  const p = new Uint8Array(20 + 32 + data)
  p[0] = 0x45; p[2] = p.byteLength >> 8; p[3] = p.byteLength & 0xff; p[8] = 64; p[9] = 6
  p.set([10, 0, 0, 1], 12); p.set([10, 0, 0, 2], 16)
  p[20 + 12] = 8 << 4 // data offset: 32 bytes
  p[20 + 13] = flags
  p[20 + 4] = tag // sequence number byte: tells the records apart
  return p
}

test('pureTcpAck: an ACK without payload (IPv4, IPv6) is one; data, SYN, FIN, RST, UDP are not', () => {
  const ACK = 0x10
  assert.equal(pureTcpAck(tcp4(ACK), 0, 52), true)
  assert.equal(pureTcpAck(tcp4(ACK | 0x08), 0, 52), true, 'PSH without payload')
  assert.equal(pureTcpAck(tcp4(ACK, 100), 0, 152), false, 'carries data')
  for (const f of [0x01, 0x02, 0x04]) assert.equal(pureTcpAck(tcp4(ACK | f), 0, 52), false, `flag ${f}`)
  const udp = tcp4(ACK); udp[9] = 17
  assert.equal(pureTcpAck(udp, 0, 52), false, 'UDP')
  assert.equal(pureTcpAck(tcp4(ACK), 0, 30), false, 'too short for a TCP header')
  const v6 = new Uint8Array(40 + 32)
  v6[0] = 0x60; v6[5] = 32; v6[6] = 6; v6[40 + 12] = 8 << 4; v6[40 + 13] = ACK
  assert.equal(pureTcpAck(v6, 0, 72), true, 'IPv6 ACK')
  v6[5] = 40
  assert.equal(pureTcpAck(v6, 0, 72), false, 'IPv6 with payload')
})

test('pure ACK runs are held briefly and go out together in one send; anything else takes them along first, in order', async () => {
  const got: Uint8Array[] = []
  const tx = link()
  const rx = link(got)
  const [out, inb] = await streamPair()
  rx.attach(inb, false)
  tx.attach(out, false)
  let sends = 0
  const send = out.send.bind(out)
  out.send = (d) => { sends++; return send(d) }
  for (let i = 0; i < 3; i++) tx.sendAcks(buildBatch([tcp4(0x10, 0, i)]), 1)
  assert.equal(tx.stats.txPackets, 0, 'held, not sent yet')
  await waitFor(() => got.length >= 3, 15_000, 'the held ACKs')
  assert.equal(sends, 1, 'three ACKs in one stream send')
  assert.equal(tx.acksHeld, 3)
  // a data packet right behind held ACKs takes them along, ACKs first
  tx.sendAcks(buildBatch([tcp4(0x10, 0, 3)]), 1)
  tx.send(buildBatch([tcp4(0x18, 100, 4)]), 1)
  await waitFor(() => got.length >= 5, 15_000, 'ACK and data')
  assert.deepEqual(got.map(p => p[24]), [0, 1, 2, 3, 4], 'in the order they were read')
  assert.equal(sends, 3)
})

test('a run longer than one Noise message goes out in pieces of whole records, in order', async () => {
  const got: Uint8Array[] = []
  const tx = link()
  const rx = link(got)
  const [out, inb] = await streamPair()
  rx.attach(inb, false)
  tx.attach(out, false)
  const sizes: number[] = []
  const send = out.send.bind(out)
  out.send = (d) => { sizes.push(d.byteLength); return send(d) }
  const recs = [30_000, 30_000, 30_000, 500].map((n, i) => new Uint8Array(n).fill(i + 1))
  tx.send(buildBatch(recs), 4)
  await waitFor(() => got.length >= 4, 15_000, 'four records')
  assert.deepEqual(got.map(p => [p.byteLength, p[0]]), [[30_000, 1], [30_000, 2], [30_000, 3], [500, 4]])
  assert.deepEqual(sizes, [60_008, 30_004 + 504], 'cut at a record boundary, each piece within 65507 bytes')
  assert.equal(tx.stats.txPackets, 4)
})

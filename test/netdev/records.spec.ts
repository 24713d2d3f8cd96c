/**
 * Unit tests of the batch record format (pure logic): build, iterate without copying, reject torn
 * or oversized records, reassemble records across arbitrary stream chunk splits with lengths
 * checked before allocation, read the virtio_net_hdr.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Uint8ArrayList } from 'uint8arraylist'
import { BatchBuilder, buildBatch, countRecords, iterateRecords, MAX_RECORD_PAYLOAD, parseVnetHeader, RecordReassembler, recordPacket, VNET_HDR_GSO_TCPV4, VNET_HDR_LEN } from '../../src/netdev/records.js'

/** The bounds the VPN uses without offloads: at least an IPv4 header. */
const VPN_BOUNDS = { min: 20, max: MAX_RECORD_PAYLOAD }

test('records: build and iterate round trip, big-endian lengths, views not copies', () => {
  const a = new Uint8Array([1, 2, 3])
  const b = new Uint8Array(1500).fill(7)
  const batch = buildBatch([a, b])
  assert.equal(batch.byteLength, 4 + 3 + 4 + 1500)
  assert.deepEqual([...batch.subarray(0, 4)], [0, 0, 0, 3])
  assert.deepEqual([...batch.subarray(7, 11)], [0, 0, 0x05, 0xdc])
  const got = [...iterateRecords(batch)]
  assert.equal(got.length, 2)
  assert.deepEqual(got[0], a)
  assert.deepEqual(got[1], b)
  assert.equal(got[1]!.buffer, batch.buffer, 'records are views into the batch')
  assert.equal(countRecords(batch), 2)
  assert.equal(countRecords(new Uint8Array(0)), 0)
})

test('records: torn, zero-length and oversized records are rejected', () => {
  const batch = buildBatch([new Uint8Array(10)])
  assert.throws(() => countRecords(batch.subarray(0, 8)), { name: 'InvalidBatchError' })
  assert.throws(() => countRecords(batch.subarray(0, 2)), { name: 'InvalidBatchError' })
  assert.throws(() => countRecords(new Uint8Array([0, 0, 0, 0])), { name: 'InvalidBatchError' })
  const big = new Uint8Array(8)
  new DataView(big.buffer).setUint32(0, MAX_RECORD_PAYLOAD + 1)
  assert.throws(() => countRecords(big), { name: 'InvalidBatchError' })
  assert.throws(() => buildBatch([new Uint8Array(0)]), { name: 'InvalidBatchError' })
  // a view at an offset into a larger buffer parses correctly
  const outer = new Uint8Array(100)
  outer.set(batch, 50)
  assert.equal(countRecords(outer.subarray(50, 50 + batch.byteLength)), 1)
})

test('records: BatchBuilder grows and prepends headers; vnet header fields are little-endian', () => {
  const bb = new BatchBuilder(16)
  const hdr = new Uint8Array(VNET_HDR_LEN)
  hdr[0] = 1; hdr[1] = VNET_HDR_GSO_TCPV4
  new DataView(hdr.buffer).setUint16(2, 54, true)
  new DataView(hdr.buffer).setUint16(4, 1448, true)
  new DataView(hdr.buffer).setUint16(6, 34, true)
  new DataView(hdr.buffer).setUint16(8, 16, true)
  for (let i = 0; i < 100; i++) bb.push(new Uint8Array(100).fill(i), hdr)
  assert.equal(bb.count, 100)
  const batch = bb.take()
  assert.equal(bb.count, 0)
  const recs = [...iterateRecords(batch)]
  assert.equal(recs.length, 100)
  assert.deepEqual(parseVnetHeader(recs[42]!), { flags: 1, gsoType: VNET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 })
  assert.equal(recordPacket(recs[42]!, true)[0], 42)
  assert.equal(recordPacket(recs[42]!, false).byteLength, 110)
})

function payload (n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n)
  for (let i = 0; i < n; i++) p[i] = (seed + i) & 255
  return p
}

test('reassembler: reassembles records split at every possible position', () => {
  const payloads = [payload(20, 1), payload(1500, 2), payload(33, 3), payload(65545, 4)]
  const wire = buildBatch(payloads)
  for (const cut of [1, 2, 3, 4, 5, 23, 24, 25, 1000, 1528, 1529, 60000, wire.byteLength - 1]) {
    const r = new RecordReassembler(VPN_BOUNDS)
    const runs = [...r.push(wire.subarray(0, cut)), ...r.push(wire.subarray(cut))]
    const got = runs.flatMap(run => [...iterateRecords(run)])
    assert.equal(got.length, payloads.length, `cut at ${cut}`)
    got.forEach((g, i) => { assert.deepEqual(g, payloads[i]) })
    assert.equal(r.pending, 0)
  }
})

test('reassembler: reassembles a byte-at-a-time stream and Uint8ArrayList chunks', () => {
  const payloads = Array.from({ length: 10 }, (_, i) => payload(20 + i * 7, i))
  const wire = buildBatch(payloads)
  const r = new RecordReassembler(VPN_BOUNDS)
  const got: Uint8Array[] = []
  for (let i = 0; i < wire.byteLength; i++) for (const run of r.push(wire.subarray(i, i + 1))) got.push(...[...iterateRecords(run)])
  assert.equal(got.length, 10)
  const r2 = new RecordReassembler(VPN_BOUNDS)
  const list = new Uint8ArrayList(wire.subarray(0, 10), wire.subarray(10))
  assert.equal(r2.push(list).flatMap(run => [...iterateRecords(run)]).length, 10)
})

test('reassembler: a whole-record chunk comes back as one view without copying', () => {
  const wire = buildBatch([payload(100, 1), payload(200, 2)])
  const runs = new RecordReassembler(VPN_BOUNDS).push(wire)
  assert.equal(runs.length, 1)
  assert.equal(runs[0]!.buffer, wire.buffer)
})

test('reassembler: an oversized or undersized length is refused before anything is allocated', () => {
  const huge = new Uint8Array([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])
  assert.throws(() => new RecordReassembler(VPN_BOUNDS).push(huge), (err: Error) => err.name === 'InvalidBatchError')
  const r = new RecordReassembler(VPN_BOUNDS)
  // header split across chunks, then the bad length completes
  r.push(new Uint8Array([0x00, 0x10]))
  assert.throws(() => r.push(new Uint8Array([0x00, 0x00])), (err: Error) => err.name === 'InvalidBatchError')
  const tiny = buildBatch([payload(5, 0)])
  assert.throws(() => new RecordReassembler(VPN_BOUNDS).push(tiny), (err: Error) => err.name === 'InvalidBatchError')
  const zero = new Uint8Array(4)
  assert.throws(() => new RecordReassembler(VPN_BOUNDS).push(zero), (err: Error) => err.name === 'InvalidBatchError')
})

/** What pushEach delivered, copied at once (its runs are only valid during the callback). */
function collectEach (r: RecordReassembler, data: Uint8Array | Iterable<Uint8Array>, into: Uint8Array[]): void {
  r.pushEach(data, run => { for (const rec of iterateRecords(run)) into.push(rec.slice()) })
}

test('reassembler pushEach: same records as push on random chunkings of Uint8ArrayLists, scratch reused', () => {
  let seed = 7
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  const payloads = Array.from({ length: 40 }, (_, i) => payload(20 + rnd(i % 5 === 0 ? 65000 : 1600), i))
  const wire = buildBatch(payloads)
  for (let trial = 0; trial < 20; trial++) {
    const r = new RecordReassembler(VPN_BOUNDS)
    const got: Uint8Array[] = []
    let off = 0
    while (off < wire.byteLength) {
      // a stream message: a list of 1-4 chunks of 1 B-70 KB
      const list = new Uint8ArrayList()
      for (let k = 1 + rnd(4); k > 0 && off < wire.byteLength; k--) {
        const end = Math.min(wire.byteLength, off + 1 + rnd(trial % 2 === 0 ? 70_000 : 9))
        list.append(wire.subarray(off, end))
        off = end
      }
      collectEach(r, list, got)
    }
    assert.equal(got.length, payloads.length, `trial ${trial}`)
    got.forEach((g, i) => { assert.deepEqual(g, payloads[i], `trial ${trial} record ${i}`) })
    assert.equal(r.pending, 0)
  }
})

test('reassembler pushEach: whole records come back as views of the chunk; bad lengths throw', () => {
  const wire = buildBatch([payload(100, 1), payload(200, 2)])
  const views: Uint8Array[] = []
  new RecordReassembler(VPN_BOUNDS).pushEach(wire, run => { views.push(run) })
  assert.equal(views.length, 1)
  assert.equal(views[0]!.buffer, wire.buffer)
  const r = new RecordReassembler(VPN_BOUNDS)
  const good: Uint8Array[] = []
  // a good record, then a header split across chunks whose length is out of bounds
  assert.throws(() => { collectEach(r, new Uint8ArrayList(buildBatch([payload(30, 3)]), new Uint8Array([0x00, 0x10])), good); collectEach(r, new Uint8Array([0x00, 0x00]), good) }, (err: Error) => err.name === 'InvalidBatchError')
  assert.equal(good.length, 1)
  assert.throws(() => { new RecordReassembler(VPN_BOUNDS).pushEach(new Uint8Array(4), () => {}) }, (err: Error) => err.name === 'InvalidBatchError')
})

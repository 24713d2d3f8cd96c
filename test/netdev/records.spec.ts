/**
 * Unit tests of the batch record format (pure logic): build, iterate without copying, reject torn
 * or oversized records, read the virtio_net_hdr.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BatchBuilder, buildBatch, countRecords, iterateRecords, MAX_RECORD_PAYLOAD, parseVnetHeader, recordPacket, VNET_HDR_GSO_TCPV4, VNET_HDR_LEN } from '../../src/netdev/records.js'

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

// Tunnel framing: reassembly across arbitrary chunk splits, bounds checked before allocation.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Uint8ArrayList } from 'uint8arraylist'
import { decodeRecords, encodeRecords, RecordReassembler } from '../../src/vpn/framing.js'
import { InvalidFrameError } from '../../src/vpn/errors.js'

function payload (n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n)
  for (let i = 0; i < n; i++) p[i] = (seed + i) & 255
  return p
}

test('reassembles records split at every possible position', () => {
  const payloads = [payload(20, 1), payload(1500, 2), payload(33, 3), payload(65545, 4)]
  const wire = encodeRecords(payloads)
  for (const cut of [1, 2, 3, 4, 5, 23, 24, 25, 1000, 1528, 1529, 60000, wire.byteLength - 1]) {
    const r = new RecordReassembler()
    const runs = [...r.push(wire.subarray(0, cut)), ...r.push(wire.subarray(cut))]
    const got = runs.flatMap(run => decodeRecords(run))
    assert.equal(got.length, payloads.length, `cut at ${cut}`)
    got.forEach((g, i) => { assert.deepEqual(g, payloads[i]) })
    assert.equal(r.pending, 0)
  }
})

test('reassembles a byte-at-a-time stream and Uint8ArrayList chunks', () => {
  const payloads = Array.from({ length: 10 }, (_, i) => payload(20 + i * 7, i))
  const wire = encodeRecords(payloads)
  const r = new RecordReassembler()
  const got: Uint8Array[] = []
  for (let i = 0; i < wire.byteLength; i++) for (const run of r.push(wire.subarray(i, i + 1))) got.push(...decodeRecords(run))
  assert.equal(got.length, 10)
  const r2 = new RecordReassembler()
  const list = new Uint8ArrayList(wire.subarray(0, 10), wire.subarray(10))
  assert.equal(r2.push(list).flatMap(run => decodeRecords(run)).length, 10)
})

test('a whole-record chunk comes back as one view without copying', () => {
  const wire = encodeRecords([payload(100, 1), payload(200, 2)])
  const runs = new RecordReassembler().push(wire)
  assert.equal(runs.length, 1)
  assert.equal(runs[0]!.buffer, wire.buffer)
})

test('an oversized or undersized length is refused before anything is allocated', () => {
  const huge = new Uint8Array([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])
  assert.throws(() => new RecordReassembler().push(huge), (err: Error) => err.name === InvalidFrameError.name)
  const r = new RecordReassembler()
  // header split across chunks, then the bad length completes
  r.push(new Uint8Array([0x00, 0x10]))
  assert.throws(() => r.push(new Uint8Array([0x00, 0x00])), (err: Error) => err.name === InvalidFrameError.name)
  const tiny = encodeRecords([payload(5, 0)])
  assert.throws(() => new RecordReassembler().push(tiny), (err: Error) => err.name === InvalidFrameError.name)
  const zero = new Uint8Array(4)
  assert.throws(() => new RecordReassembler().push(zero), (err: Error) => err.name === InvalidFrameError.name)
})

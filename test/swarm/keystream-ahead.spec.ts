/**
 * The AVX-512 XSalsa20's keystream computed ahead on the addon's generator thread
 * (native/crypto/keystream_ring.c): the same bytes as libsodium whether a batch comes from the
 * ring or is computed inline after a stall, a busy stream gets a ring and a quiet one does not,
 * at most 16 rings held per process, and dispose hands the ring back (wiped and freed).
 * On a CPU without AVX-512F these tests are skipped, loudly.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import fc from 'fast-check'
import { createXSalsa20 } from '../../src/swarm/xsalsa20.js'
import { loadSimd, SimdXSalsa20Stream, type KeystreamAhead } from '../../src/swarm/xsalsa20-simd.js'
import { waitFor } from '../helpers/wait.js'

const simd = loadSimd()
const skip = simd == null && 'no AVX-512F on this CPU (or no dmsnet addon): no keystream ring here'
if (skip !== false) console.warn(`SKIPPING the keystream-ahead tests: ${skip}`)

const RING_BATCHES = 256
const RING_MAX = 16

function stream (key: Uint8Array, nonce: Uint8Array, ahead: KeystreamAhead): SimdXSalsa20Stream {
  return new SimdXSalsa20Stream(simd!, key, nonce, 0, ahead)
}

/** `data` XORed in place through `s` in `sizes` pieces (the last takes the rest). */
function xorIn (s: SimdXSalsa20Stream, data: Uint8Array, sizes: number[]): Uint8Array {
  const out = new Uint8Array(data)
  let off = 0
  for (let i = 0; off < out.byteLength; i++) {
    const n = Math.min(sizes[i] ?? out.byteLength, out.byteLength - off)
    const c = out.subarray(off, off + n)
    s.update(c, c)
    off += n
  }
  return out
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))

test('ring: the bytes from a full ring, then from stalls computed inline, then from the refilled ring equal libsodium', { skip }, async () => {
  const key = new Uint8Array(randomBytes(32))
  const nonce = new Uint8Array(randomBytes(24))
  const data = new Uint8Array(randomBytes(10 * 1024 * 1024 + 333))
  const expected = createXSalsa20(key, nonce, 'sodium').update(data)
  const s = stream(key, nonce, 2)
  try {
    await waitFor(() => s.aheadStats().readyAhead === RING_BATCHES, 30_000, 'the generator to fill the ring')
    // one 8 MiB call: the 256 ready batches come from the ring; their slots go back only when the
    // call ends, so the other 7,936 are stalls computed inline
    const first = xorIn(s, data.subarray(0, 8 * 1024 * 1024), [])
    assert.deepEqual({ ...s.aheadStats(), readyAhead: 0 }, { ring: true, ringBatches: RING_BATCHES, inlineBatches: 8192 - RING_BATCHES, readyAhead: 0 })
    // the generator skipped what the reader computed: the ring refills from the reader's position
    await waitFor(() => s.aheadStats().readyAhead === RING_BATCHES, 30_000, 'the generator to refill the ring')
    const rest = xorIn(s, data.subarray(8 * 1024 * 1024), [100, 1024, 65536, 1, 4095])
    const st = s.aheadStats()
    assert.ok(st.ringBatches > RING_BATCHES, `the refilled ring was used (${st.ringBatches} batches)`)
    assert.ok(same(Buffer.concat([first, rest]), expected))
    assert.equal(s.position, data.byteLength)
  } finally {
    s.dispose()
  }
})

test('ring: equals libsodium on random chunkings, ring made at once or once busy (fast-check)', { skip }, () => {
  // which batches come from the ring depends on when the idle-priority generator gets a core:
  // any mix of ring and inline must give the same bytes (the first test pins both paths down)
  const chunking = fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 30 })
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 24, maxLength: 24 }),
    chunking, fc.constantFrom<KeystreamAhead>(1, 2), (key, nonce, sizes, ahead) => {
      const data = new Uint8Array(randomBytes(sizes.reduce((a, b) => a + b, 0) + 777))
      const s = stream(key, nonce, ahead)
      try {
        const got = xorIn(s, data, sizes)
        return same(got, createXSalsa20(key, nonce, 'sodium').update(data))
      } finally {
        s.dispose()
      }
    }), { numRuns: 60 })
})

test('ring: only a busy stream gets one (1 MiB in calls of >= 16 KiB); ahead 0 never', { skip }, () => {
  const key = new Uint8Array(randomBytes(32))
  const nonce = new Uint8Array(randomBytes(24))
  const quiet = stream(key, nonce, 1)
  const never = stream(key, nonce, 0)
  const busy = stream(key, nonce, 1)
  try {
    for (let i = 0; i < 200; i++) quiet.update(new Uint8Array(8 * 1024))
    assert.equal(quiet.aheadStats().ring, false, '1.6 MiB in 8 KiB calls: no ring')
    for (let i = 0; i < 40; i++) never.update(new Uint8Array(64 * 1024))
    assert.equal(never.aheadStats().ring, false, 'ahead 0: no ring')
    for (let i = 0; i < 16; i++) busy.update(new Uint8Array(64 * 1024))
    assert.equal(busy.aheadStats().ring, false, 'below 1 MiB: no ring yet')
    busy.update(new Uint8Array(64 * 1024))
    assert.equal(busy.aheadStats().ring, true, 'the first 64 KiB call after 1 MiB made one')
  } finally {
    for (const s of [quiet, never, busy]) s.dispose()
  }
})

test('ring: at most 16 per process (the 17th stream runs inline, same bytes); dispose frees one', { skip }, () => {
  const key = new Uint8Array(randomBytes(32))
  const nonce = new Uint8Array(randomBytes(24))
  const base = simd!.xsalsa20RingsLive()
  assert.equal(base, 0, 'no ring left over from earlier tests')
  const streams = Array.from({ length: RING_MAX + 1 }, () => stream(key, nonce, 2))
  try {
    const data = new Uint8Array(randomBytes(70_000))
    const expected = createXSalsa20(key, nonce, 'sodium').update(data)
    for (const s of streams) assert.ok(same(xorIn(s, data, [3000, 65536]), expected))
    assert.equal(simd!.xsalsa20RingsLive(), RING_MAX)
    assert.deepEqual(streams.map(s => s.aheadStats().ring), [...Array(RING_MAX).fill(true), false])
    streams[0]!.dispose()
    assert.equal(simd!.xsalsa20RingsLive(), RING_MAX - 1, 'dispose handed the ring back')
    const late = stream(key, nonce, 2)
    streams.push(late)
    late.update(new Uint8Array(1))
    assert.equal(late.aheadStats().ring, true, 'a freed place is taken by the next stream')
  } finally {
    for (const s of streams) s.dispose()
  }
  assert.equal(simd!.xsalsa20RingsLive(), 0, 'every ring freed')
  const s = stream(key, nonce, 2)
  s.dispose()
  assert.throws(() => s.update(new Uint8Array(1)), { name: 'RangeError', message: /after dispose/ })
  assert.throws(() => { simd!.xsalsa20Create(key, nonce, 0, 3 as KeystreamAhead) }, { name: 'RangeError', message: /ahead must be/ })
})

test('DMSNET_PSK_AHEAD picks the mode of new streams; a wrong value is a CipherChoiceError', { skip }, () => {
  const key = new Uint8Array(randomBytes(32))
  const nonce = new Uint8Array(24)
  const before = process.env.DMSNET_PSK_AHEAD
  try {
    process.env.DMSNET_PSK_AHEAD = '2'
    const on = createXSalsa20(key, nonce, 'avx512') as SimdXSalsa20Stream
    on.update(new Uint8Array(1))
    assert.equal(on.aheadStats().ring, true)
    on.dispose()
    process.env.DMSNET_PSK_AHEAD = '0'
    const off = createXSalsa20(key, nonce, 'avx512') as SimdXSalsa20Stream
    for (let i = 0; i < 20; i++) off.update(new Uint8Array(64 * 1024))
    assert.equal(off.aheadStats().ring, false)
    off.dispose()
    process.env.DMSNET_PSK_AHEAD = 'yes'
    assert.throws(() => createXSalsa20(key, nonce, 'avx512'), { name: 'CipherChoiceError' })
  } finally {
    if (before == null) delete process.env.DMSNET_PSK_AHEAD
    else process.env.DMSNET_PSK_AHEAD = before
  }
})

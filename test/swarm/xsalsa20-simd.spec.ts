/**
 * The addon's AVX-512 XSalsa20 (native/crypto/xsalsa20.c, src/swarm/xsalsa20-simd.ts) against
 * libsodium and the JavaScript cipher: the chunk sizes around its 64-byte blocks and 1 KiB batches,
 * in place and out of place, a block counter crossing 2^32 (against libsodium's Salsa20 at the
 * same counter), bad arguments refused with named errors, and the `DMSNET_XSALSA20` switch.
 * On a CPU without AVX-512F the addon's tests are skipped, loudly.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { hsalsa } from '@noble/ciphers/salsa.js'
import { pskProtector } from '../../src/swarm/protector.js'
import { availableXSalsa20, createXSalsa20, type KeystreamXor, type XSalsa20Kind } from '../../src/swarm/xsalsa20.js'
import { loadSimd, SimdXSalsa20Stream } from '../../src/swarm/xsalsa20-simd.js'

const simd = loadSimd()
const skip = simd == null && 'no AVX-512F on this CPU (or no dmsnet addon): the AVX-512 XSalsa20 is not offered here'
if (skip !== false) console.warn(`SKIPPING the AVX-512 XSalsa20 tests: ${skip}`)

const SIZES = [0, 1, 63, 64, 65, 1023, 1024, 1025, 65536]

/** mulberry32: a seeded generator, so a failing chunking can be replayed from its seed. */
function rng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `data` through `s` in `sizes`-long chunks (the last one takes the rest), in place or into new arrays. */
function runChunks (s: KeystreamXor, data: Uint8Array, sizes: number[], inPlace: boolean): Uint8Array {
  const out = new Uint8Array(data)
  let off = 0
  for (let i = 0; off < data.byteLength; i++) {
    const n = Math.min(sizes[i] ?? data.byteLength, data.byteLength - off)
    const chunk = out.subarray(off, off + n)
    if (inPlace) s.update(chunk, chunk)
    else chunk.set(s.update(chunk.slice()))
    off += n
  }
  assert.equal(s.position, data.byteLength)
  return out
}

test('AVX-512 = libsodium = JS on seeded chunkings of 0, 1, 63, 64, 65, 1023, 1024, 1025, 65536 bytes, in place and not', { skip }, () => {
  const kinds: XSalsa20Kind[] = ['avx512', 'sodium', 'js']
  assert.deepEqual(availableXSalsa20(), kinds)
  for (let seed = 1; seed <= 24; seed++) {
    const r = rng(seed)
    const key = new Uint8Array(randomBytes(32))
    const nonce = new Uint8Array(randomBytes(24))
    const sizes = Array.from({ length: 12 }, () => SIZES[Math.floor(r() * SIZES.length)]!)
    const total = sizes.reduce((a, b) => a + b, 0) + Math.floor(r() * 2000)
    const data = new Uint8Array(randomBytes(total))
    const expected = createXSalsa20(key, nonce, 'sodium').update(data)
    for (const kind of kinds) {
      for (const inPlace of [true, false]) {
        const got = runChunks(createXSalsa20(key, nonce, kind), data, sizes, inPlace)
        assert.ok(Buffer.from(got).equals(Buffer.from(expected)), `${kind} ${inPlace ? 'in place' : 'copied'}, seed ${seed}, chunks ${sizes.join(',')}`)
      }
    }
  }
})

test('AVX-512: a block counter crossing 2^32 carries into the high word (libsodium Salsa20 at the same counter)', { skip }, () => {
  const sodium = createRequire(import.meta.url)('sodium-native') as {
    crypto_stream_salsa20_xor_ic: (c: Uint8Array, m: Uint8Array, n: Uint8Array, ic: number, k: Uint8Array) => void
  }
  const key = new Uint8Array(randomBytes(32))
  const nonce = new Uint8Array(randomBytes(24))
  // XSalsa20 = Salsa20 under the HSalsa20 subkey of (key, nonce[0..16]), with nonce[16..24]
  const words = (b: Uint8Array): Uint32Array => new Uint32Array(b.slice().buffer)
  const subkey = new Uint32Array(8)
  hsalsa(words(new TextEncoder().encode('expand 32-byte k')), words(key), words(nonce.subarray(0, 16)), subkey)
  // sodium-native takes the first counter as 32 bits (libsodium counts on in 64): so start below
  // 2^32 and cross it, inside a 16-block batch (-5) and at a batch boundary (-16)
  const blocks = 40
  for (const start of [2 ** 32 - 5, 2 ** 32 - 16]) {
    const expected = new Uint8Array(64 * blocks + 17)
    sodium.crypto_stream_salsa20_xor_ic(expected, expected, nonce.subarray(16), start, new Uint8Array(subkey.buffer))
    const s = new SimdXSalsa20Stream(simd!, key, nonce, start)
    const got = runChunks(s, new Uint8Array(expected.byteLength), [65, 1023, 1, 1024], false)
    assert.ok(Buffer.from(got).equals(Buffer.from(expected)), `counter from ${start}`)
    // a stream starting above 2^32 (high word already 1) continues the same keystream
    const later = new SimdXSalsa20Stream(simd!, key, nonce, start + 23).update(new Uint8Array(64 * (blocks - 23)))
    assert.ok(Buffer.from(later).equals(Buffer.from(expected.subarray(64 * 23, 64 * blocks))), `counter from ${start + 23}`)
  }
})

test('AVX-512: bad arguments are refused with RangeError, disposed streams too', { skip }, () => {
  const key = new Uint8Array(32)
  const nonce = new Uint8Array(24)
  assert.throws(() => createXSalsa20(key.subarray(1), nonce, 'avx512'), RangeError)
  assert.throws(() => createXSalsa20(key, nonce.subarray(1), 'avx512'), RangeError)
  const s = createXSalsa20(key, nonce, 'avx512')
  assert.throws(() => s.update(new Uint8Array(10), new Uint8Array(9)), { name: 'RangeError', message: /as long as the input/ })
  // a partial overlap would read bytes already written: refused (exact aliasing is in place, and fine)
  const buf = new Uint8Array(100)
  assert.throws(() => s.update(buf.subarray(0, 50), buf.subarray(10, 60)), { name: 'RangeError', message: /overlap/ })
  assert.equal(s.position, 0, 'nothing consumed by the refused calls')
  s.dispose()
  assert.throws(() => s.update(new Uint8Array(1)), { name: 'RangeError', message: /after dispose/ })
})

test('AVX-512: only a state the addon made is used as one: a plain object or another external is a TypeError', { skip }, () => {
  const addon = simd!
  const out = new Uint8Array(64)
  const data = new Uint8Array(64)
  // positive control: a real state works through the same entry points
  const state = addon.xsalsa20Create(new Uint8Array(32), new Uint8Array(24))
  addon.xsalsa20Xor(state, out, data)
  assert.notDeepEqual(out, new Uint8Array(64))
  assert.equal(typeof addon.xsalsa20ForeignExternal, 'function', 'the addon offers a foreign external for this test')
  const foreign = addon.xsalsa20ForeignExternal!() as Parameters<typeof addon.xsalsa20Xor>[0]
  const before = out.slice()
  assert.throws(() => { addon.xsalsa20Xor(foreign, out, data) }, { name: 'TypeError', message: /not a stream state/ })
  assert.throws(() => { addon.xsalsa20Dispose(foreign) }, { name: 'TypeError', message: /not a stream state/ })
  assert.throws(() => { addon.xsalsa20Xor({} as typeof foreign, out, data) }, { name: 'TypeError', message: /not a stream state/ })
  assert.throws(() => { addon.xsalsa20Xor(null as unknown as typeof foreign, out, data) }, { name: 'TypeError', message: /not a stream state/ })
  assert.deepEqual(out, before, 'nothing written by the refused calls')
  addon.xsalsa20Dispose(state)
})

test('DMSNET_XSALSA20 picks the cipher under auto (the protector reports it); a wrong value is a CipherChoiceError', () => {
  const key = new Uint8Array(randomBytes(32))
  const before = process.env.DMSNET_XSALSA20
  try {
    for (const kind of availableXSalsa20()) {
      process.env.DMSNET_XSALSA20 = kind
      assert.equal(createXSalsa20(key, new Uint8Array(24)).impl, kind)
      assert.equal(pskProtector({ psk: key }).stats.cipherImpl, kind)
      // an explicit choice in code wins over the variable
      assert.equal(createXSalsa20(key, new Uint8Array(24), 'js').impl, 'js')
    }
    process.env.DMSNET_XSALSA20 = 'chacha'
    assert.throws(() => pskProtector({ psk: key }), { name: 'CipherChoiceError' })
    delete process.env.DMSNET_XSALSA20
    assert.equal(pskProtector({ psk: key }).stats.cipherImpl, availableXSalsa20()[0], 'unset: the fastest available')
  } finally {
    if (before == null) delete process.env.DMSNET_XSALSA20
    else process.env.DMSNET_XSALSA20 = before
  }
})

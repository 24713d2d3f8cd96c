/**
 * The PSK protector's XSalsa20 keystreams (the addon's AVX-512 code where the CPU has it, libsodium
 * through sodium-native, and pure JavaScript): all give NaCl's published vectors, all equal each
 * other on random chunkings (fast-check), and a protector on one cipher talks to one on another.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { multiaddrConnectionPair } from '@libp2p/utils'
import fc from 'fast-check'
import { Uint8ArrayList } from 'uint8arraylist'
import { pskProtector } from '../../src/swarm/protector.js'
import { availableXSalsa20, createXSalsa20, nativeXSalsa20Available, type XSalsa20Impl } from '../../src/swarm/xsalsa20.js'
import { collect, until } from './protector-streams.js'

// NaCl's tests/stream.c and stream3.c (also libsodium's test/default/stream*.c)
const KEY = Buffer.from('1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389', 'hex')
const NONCE = Buffer.from('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37', 'hex')
const STREAM3_FIRST32 = 'eea6a7251c1e72916d11c2cb214d3c252539121d8e234e652d651fa4c8cff880'
const STREAM_4MIB_SHA256 = '662b9d0e3463029156069b12f918691a98f7dfb2ca0393c96bbfc6b1fbd630a2'

// every cipher this machine runs ('avx512' only on CPUs with AVX-512F: test/swarm/xsalsa20-simd.spec.ts says so loudly)
const IMPLS: XSalsa20Impl[] = availableXSalsa20()

test('sodium-native loads on this platform (npm 11 skips install scripts; the binary ships prebuilt)', () => {
  assert.equal(nativeXSalsa20Available(), true)
  assert.equal(createXSalsa20(KEY, NONCE).native, true, 'auto picks the native cipher when it loads')
  assert.equal(createXSalsa20(KEY, NONCE, 'js').native, false)
  assert.equal(pskProtector({ psk: KEY }).stats.cipher, 'native')
  assert.equal(pskProtector({ psk: KEY, cipher: 'js' }).stats.cipher, 'js')
})

for (const impl of IMPLS) {
  test(`${impl}: NaCl vectors (stream3's first 32 bytes; sha256 of the first 4 MiB of keystream)`, () => {
    const s = createXSalsa20(KEY, NONCE, impl)
    const a = s.update(new Uint8Array(10))
    const b = s.update(new Uint8Array(22))
    assert.equal(Buffer.concat([a, b]).toString('hex'), STREAM3_FIRST32)
    const whole = createXSalsa20(KEY, NONCE, impl).update(new Uint8Array(4 * 1024 * 1024))
    assert.equal(createHash('sha256').update(whole).digest('hex'), STREAM_4MIB_SHA256)
    assert.throws(() => createXSalsa20(KEY.subarray(1), NONCE, impl), RangeError)
    assert.throws(() => createXSalsa20(KEY, NONCE.subarray(1), impl), RangeError)
  })
}

test('every available keystream agrees with JS on random chunkings, in place or copied, chunks or lists', () => {
  const chunking = fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 40 })
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 24, maxLength: 24 }),
    chunking, chunking, fc.constantFrom('update', 'inPlace', 'xorCopy', 'xorChunks'),
    (key, nonce, sizesA, sizesB, mode) => {
      const total = sizesA.reduce((x, y) => x + y, 0)
      const data = new Uint8Array(randomBytes(total))
      const expected = createXSalsa20(key, nonce, 'js').update(data)
      const run = (impl: XSalsa20Impl, sizes: number[]): Uint8Array => {
        const s = createXSalsa20(key, nonce, impl)
        const parts: Uint8Array[] = []
        let off = 0
        for (const [i, n] of sizes.entries()) {
          const chunk = data.slice(off, off + n)
          off += n
          if (mode === 'update') parts.push(s.update(chunk))
          else if (mode === 'inPlace') parts.push(s.update(chunk, chunk))
          else if (mode === 'xorCopy') {
            const before = chunk.slice()
            parts.push(s.xorCopy(chunk))
            assert.deepEqual(chunk, before, 'xorCopy leaves its input alone')
          } else {
            // split each chunk into a list of up to 3 pieces, as Uint8ArrayList hands them
            const cut1 = Math.min(n, i % 7)
            const cut2 = Math.min(n, cut1 + 65)
            const list = new Uint8ArrayList(chunk.subarray(0, cut1), chunk.subarray(cut1, cut2), chunk.subarray(cut2))
            parts.push(s.xorChunks(list, n))
          }
        }
        assert.equal(s.position, off)
        return new Uint8Array(Buffer.concat(parts))
      }
      // the same chunking for all, then a different chunking for each
      const sizes2 = [...sizesB]
      let left = total - sizes2.reduce((x, y) => x + y, 0)
      if (left < 0) { sizes2.length = 0; left = total }
      sizes2.push(left)
      for (const impl of IMPLS) {
        assert.deepEqual(run(impl, sizesA), expected, `${impl}, chunks ${sizesA.join(',')}`)
        assert.deepEqual(run(impl, sizes2), expected, `${impl}, chunks ${sizes2.join(',')}`)
      }
    }), { numRuns: 150 })
})

test('a native-cipher protector and a JS-cipher protector talk both ways; a wrong key still garbles', async () => {
  const psk = new Uint8Array(randomBytes(32))
  const [a, b] = multiaddrConnectionPair()
  const fa = pskProtector({ psk, cipher: 'native' })
  const fb = pskProtector({ psk, cipher: 'js' })
  const [pa, pb] = await Promise.all([fa().protect(a), fb().protect(b)])
  const inA = collect(pa)
  const inB = collect(pb)
  const data = new Uint8Array(randomBytes(300_000))
  for (let off = 0; off < data.byteLength; off += 5003) pa.send(data.subarray(off, off + 5003))
  for (let off = 0; off < data.byteLength; off += 65_536) pb.send(data.subarray(off, off + 65_536))
  await until(() => inB.bytes().byteLength === data.byteLength && inA.bytes().byteLength === data.byteLength)
  assert.deepEqual(inB.bytes(), data)
  assert.deepEqual(inA.bytes(), data)

  const [c, d] = multiaddrConnectionPair()
  const [pc, pd] = await Promise.all([pskProtector({ psk, cipher: 'native' })().protect(c), pskProtector({ psk: new Uint8Array(randomBytes(32)), cipher: 'js' })().protect(d)])
  const inD = collect(pd)
  pc.send(data.subarray(0, 1000))
  await until(() => inD.bytes().byteLength === 1000)
  assert.notDeepEqual(inD.bytes(), data.subarray(0, 1000))
})

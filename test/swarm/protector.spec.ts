/**
 * The PSK protector: streaming XSalsa20 across arbitrary chunk boundaries equals the one-shot
 * cipher; the wire is `nonce ++ XSalsa20(psk, nonce, data)` per direction (go-libp2p pnet);
 * two protected ends talk, a wrong key garbles, a silent remote is cut off.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { pskProtector, XSalsa20Stream } from '../../src/swarm/protector.js'
import { collect, until } from './protector-streams.js'

test('streaming keystream equals the one-shot cipher for random chunkings', () => {
  const key = new Uint8Array(randomBytes(32))
  const nonce = new Uint8Array(randomBytes(24))
  const data = new Uint8Array(randomBytes(70_001))
  const expected = xsalsa20(key, nonce, data)
  for (let round = 0; round < 20; round++) {
    const s = new XSalsa20Stream(key, nonce)
    const out = new Uint8Array(data.byteLength)
    let off = 0
    while (off < data.byteLength) {
      const n = Math.min(data.byteLength - off, round === 0 ? 1 : Math.floor(Math.random() * 300) + (round % 3 === 0 ? 64 : 1))
      s.update(data.subarray(off, off + n), out.subarray(off, off + n))
      off += n
    }
    assert.equal(s.position, data.byteLength)
    assert.deepEqual(out, expected, `round ${round}`)
  }
  // in place, in buffers from alloc() (the aligned fast path the protector uses)
  const s = new XSalsa20Stream(key, nonce)
  const parts: Uint8Array[] = []
  for (let off = 0; off < data.byteLength;) {
    const n = Math.min(data.byteLength - off, 1 + Math.floor(Math.random() * 5000))
    const buf = s.alloc(n)
    buf.set(data.subarray(off, off + n))
    parts.push(s.update(buf, buf))
    off += n
  }
  assert.deepEqual(new Uint8Array(Buffer.concat(parts)), expected)
})

test('known vector: XSalsa20 of zeros (libsodium crypto_stream_xsalsa20 test)', () => {
  // key/nonce from NaCl's tests/stream3.c (first 32 bytes of keystream)
  const key = Buffer.from('1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389', 'hex')
  const nonce = Buffer.from('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37', 'hex')
  const s = new XSalsa20Stream(key, nonce)
  const a = s.update(new Uint8Array(10))
  const b = s.update(new Uint8Array(22))
  assert.equal(Buffer.concat([a, b]).toString('hex'), 'eea6a7251c1e72916d11c2cb214d3c252539121d8e234e652d651fa4c8cff880')
})

test('wire shape: nonce in the clear first, then XSalsa20(psk, nonce) from counter 0, both ways', async () => {
  const psk = new Uint8Array(randomBytes(32))
  const [a, raw] = multiaddrConnectionPair()
  const rawIn = collect(raw)
  const protectedA = await pskProtector({ psk })().protect(a)
  const fromA = collect(protectedA)

  // a sent its nonce before we sent anything (no waiting for the remote's)
  await until(() => rawIn.bytes().byteLength >= 24)
  const msg = new Uint8Array(randomBytes(1000))
  protectedA.send(msg.subarray(0, 333))
  protectedA.send(msg.subarray(333))
  await until(() => rawIn.bytes().byteLength === 24 + 1000)
  const wire = rawIn.bytes()
  const nonceA = wire.subarray(0, 24)
  assert.deepEqual(wire.subarray(24), xsalsa20(psk, nonceA, msg))

  // the raw side speaks go-libp2p pnet by hand: nonce, then ciphertext, split oddly
  const nonceB = new Uint8Array(randomBytes(24))
  const reply = new Uint8Array(randomBytes(777))
  const ct = xsalsa20(psk, nonceB, reply)
  const wireB = Buffer.concat([nonceB, ct])
  raw.send(wireB.subarray(0, 10))
  raw.send(wireB.subarray(10, 50))
  raw.send(wireB.subarray(50))
  await until(() => fromA.bytes().byteLength === 777)
  assert.deepEqual(fromA.bytes(), reply)
})

test('two protected ends exchange data; a wrong key garbles it', async () => {
  const psk = new Uint8Array(randomBytes(32))
  const [a, b] = multiaddrConnectionPair()
  const f = pskProtector({ psk })
  const [pa, pb] = await Promise.all([f().protect(a), f().protect(b)])
  const inB = collect(pb)
  const inA = collect(pa)
  const data = new Uint8Array(randomBytes(200_000))
  for (let off = 0; off < data.byteLength; off += 4099) pa.send(data.subarray(off, off + 4099))
  pb.send(data.subarray(0, 5))
  await until(() => inB.bytes().byteLength === data.byteLength && inA.bytes().byteLength === 5)
  assert.deepEqual(inB.bytes(), data)
  assert.deepEqual(inA.bytes(), data.subarray(0, 5))
  assert.equal(f.stats.protected, 2)

  const [c, d] = multiaddrConnectionPair()
  const [pc, pd] = await Promise.all([pskProtector({ psk })().protect(c), pskProtector({ psk: new Uint8Array(randomBytes(32)) })().protect(d)])
  const inD = collect(pd)
  pc.send(data.subarray(0, 1000))
  await until(() => inD.bytes().byteLength === 1000)
  assert.notDeepEqual(inD.bytes(), data.subarray(0, 1000))
})

test('a remote that never sends its nonce is cut off; a bad psk is refused up front', async () => {
  const [a, b] = multiaddrConnectionPair()
  b.addEventListener('message', () => {})
  const f = pskProtector({ psk: new Uint8Array(randomBytes(32)), nonceTimeoutMs: 100 })
  const pa = await f().protect(a)
  const closed = new Promise<Error | undefined>(resolve => { pa.addEventListener('close', (evt) => { resolve(evt.error) }) })
  // the protector's timer does not hold the process open; this one does, for the test
  const keep = setInterval(() => {}, 1000)
  const err = await closed.finally(() => { clearInterval(keep) })
  assert.equal(err?.name, 'PskHandshakeError')
  assert.equal(f.stats.nonceTimeouts, 1)
  assert.equal(f.stats.open, 0)
  assert.throws(() => pskProtector({ psk: new Uint8Array(16) }), RangeError)
})

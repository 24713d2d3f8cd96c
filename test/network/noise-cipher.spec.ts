/**
 * Noise on the addon's ChaCha20-Poly1305 (src/network/noise-cipher.ts, native/crypto/aead.c): the
 * AEAD gives Node's bytes for every size and split, opens in place or into `dst`, refuses a
 * tampered message and bad arguments; a handshake's ciphertext is never written over; two real
 * nodes over TCP, and a node and a stock js-libp2p Noise peer, carry bulk and small messages
 * intact with messages framed as one buffer and opened in place; a bit flipped on the wire ends
 * that connection and nothing else.
 */
import assert from 'node:assert/strict'
import { createCipheriv, randomBytes } from 'node:crypto'
import { createServer, connect, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { Uint8ArrayList } from 'uint8arraylist'
import { nativeAead, noiseCipherStats, useNativeAead } from '../../src/network/noise-cipher.js'
import { multiaddr } from '@multiformats/multiaddr'
import { ECHO, echo, echoBytes, startNode, startStockPeer } from './helpers.js'

function nodeSeal (pt: Uint8Array, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', k, nonce, { authTagLength: 16 })
  c.setAAD(ad, { plaintextLength: pt.byteLength })
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()])
}

/** A deterministic split of `b` into up to three pieces. */
function split (b: Uint8Array, t: number): Uint8Array[] {
  const x = (t * 7919) % (b.byteLength + 1)
  const y = x + ((t * 104729) % (b.byteLength - x + 1))
  return [b.subarray(0, x), b.subarray(x, y), b.subarray(y)]
}

describe('noise cipher', () => {
  const a = nativeAead()

  it('the addon is there on this machine (Node exports OpenSSL)', () => {
    assert.ok(a != null, 'aeadAvailable() is true under the Node this project runs on')
  })

  it('seals and opens as Node ChaCha20-Poly1305 does, for every size and split', () => {
    assert.ok(a != null)
    const sizes = [0, 1, 15, 16, 17, 63, 64, 65, 1199, 1200, 4095, 4096, 65519]
    for (let t = 0; t < 400; t++) {
      const n = sizes[t % sizes.length]! + (t % 3)
      const pt = new Uint8Array(randomBytes(n))
      const k = randomBytes(32)
      const nonce = randomBytes(12)
      const ad = t % 2 === 0 ? new Uint8Array(0) : randomBytes(32)
      const expected = nodeSeal(pt, nonce, ad, k)

      const out = new Uint8Array(n + 16)
      a.aeadSeal(k, nonce, ad, t % 2 === 0 ? pt : split(pt, t), out)
      assert.deepEqual(Buffer.from(out), expected, `seal, ${n} bytes`)

      const inPlace = Uint8Array.from(expected)
      assert.equal(a.aeadOpen(k, nonce, ad, split(inPlace, t + 1), null), true, `open in place, ${n} bytes`)
      assert.deepEqual(inPlace.subarray(0, n), pt)

      const dst = new Uint8Array(n)
      assert.equal(a.aeadOpen(k, nonce, ad, expected, dst), true)
      assert.deepEqual(dst, pt)

      const tampered = Uint8Array.from(expected)
      tampered[(t * 31) % tampered.byteLength]! ^= 0x40
      assert.equal(a.aeadOpen(k, nonce, ad, tampered, new Uint8Array(n)), false, 'a flipped bit fails the tag')
      assert.equal(a.aeadOpen(k, randomBytes(12), ad, expected, new Uint8Array(n)), false, 'another nonce fails the tag')
    }
  })

  it('refuses bad arguments with typed errors, never reading out of bounds', () => {
    assert.ok(a != null)
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const ad = new Uint8Array(0)
    assert.throws(() => a.aeadSeal(k.subarray(1), nonce, ad, new Uint8Array(4), new Uint8Array(20)), TypeError)
    assert.throws(() => a.aeadSeal(k, nonce.subarray(1), ad, new Uint8Array(4), new Uint8Array(20)), TypeError)
    assert.throws(() => a.aeadSeal(k, nonce, ad, new Uint8Array(4), new Uint8Array(19)), RangeError)
    assert.throws(() => a.aeadSeal(k, nonce, ad, [new Uint8Array(4), 'x' as unknown as Uint8Array], new Uint8Array(40)), TypeError)
    assert.throws(() => a.aeadSeal(k, nonce, ad, new Uint16Array(4) as unknown as Uint8Array, new Uint8Array(40)), TypeError)
    assert.throws(() => a.aeadOpen(k, nonce, ad, new Uint8Array(15)), RangeError)
    assert.throws(() => a.aeadOpen(k, nonce, ad, new Uint8Array(40), new Uint8Array(23)), RangeError)
    assert.throws(() => a.aeadOpen(k, nonce, ad, [new Uint8Array(20), null as unknown as Uint8Array]), TypeError)
  })

  it('a message in hundreds of pieces (many small socket reads) seals and opens like one', () => {
    assert.ok(a != null)
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const ad = new Uint8Array(0)
    const pt = new Uint8Array(randomBytes(65519))
    const cut = (b: Uint8Array, size: number): Uint8Array[] => Array.from({ length: Math.ceil(b.byteLength / size) }, (_, i) => b.subarray(i * size, (i + 1) * size))
    const out = new Uint8Array(pt.byteLength + 16)
    a.aeadSeal(k, nonce, ad, cut(pt, 100), out)
    assert.deepEqual(Buffer.from(out), nodeSeal(pt, nonce, ad, k))
    assert.equal(a.aeadOpen(k, nonce, ad, cut(out, 97), null), true, '676 pieces, the tag across two of them')
    assert.deepEqual(Buffer.from(out.subarray(0, pt.byteLength)), Buffer.from(pt))
  })

  it("Noise's crypto on the addon: a handshake's ciphertext stays as it was; a bad message is an Error", () => {
    const crypto = {
      encrypt: (): Uint8Array => new Uint8Array(0),
      decrypt: (): Uint8Array => new Uint8Array(0)
    } as Record<string, (...args: any[]) => Uint8Array | Uint8ArrayList> // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(useNativeAead({ crypto }), true)
    assert.equal(useNativeAead({}), false, 'not a Noise instance: nothing to change')
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const h = randomBytes(32)
    const pt = new Uint8Array(randomBytes(3000))
    const sealed = crypto.encrypt!(pt, nonce, h, k) as Uint8Array
    assert.deepEqual(Buffer.from(sealed), nodeSeal(pt, nonce, h, k))
    // a handshake message (no dst): decrypted into a new buffer, the ciphertext is hashed after
    const copy = Uint8Array.from(sealed)
    const list = new Uint8ArrayList(sealed.subarray(0, 1000), sealed.subarray(1000))
    assert.deepEqual(Buffer.from((crypto.decrypt!(list, nonce, h, k) as Uint8Array).subarray()), Buffer.from(pt))
    assert.deepEqual(Buffer.from(sealed), Buffer.from(copy), 'ciphertext untouched')
    const bad = Uint8Array.from(sealed)
    bad[5]! ^= 1
    assert.throws(() => crypto.decrypt!(bad, nonce, h, k), /Invalid chacha20poly1305 decryption/)
    assert.throws(() => crypto.decrypt!(new Uint8Array(10), nonce, h, k), /Invalid chacha20poly1305 decryption/)
  })

  it('two nodes carry bulk and small messages intact, framed as one buffer and opened in place', async () => {
    const x = await startNode()
    const y = await startNode()
    try {
      await y.net.handle(ECHO, echo)
      const framed = noiseCipherStats.framed
      const inPlace = noiseCipherStats.inPlace
      const streams = noiseCipherStats.streams
      const bulk = new Uint8Array(randomBytes(3 * 1024 * 1024 + 11))
      assert.equal(Buffer.compare(await echoBytes(await x.net.dialProtocol(y.net.host.getMultiaddrs()[0]!, ECHO), bulk, 50_000), bulk), 0, 'bulk echo')
      const small = new Uint8Array(randomBytes(64 * 100))
      assert.equal(Buffer.compare(await echoBytes(await x.net.dialProtocol(y.net.host.getMultiaddrs()[0]!, ECHO), small, 64), small), 0, 'small echo')
      assert.ok(noiseCipherStats.streams >= streams + 2, 'both ends of the connection are streamlined')
      // 3 MiB each way is at least 49 full Noise messages (65519 bytes) each way (fewer, fuller
      // messages than yamux frames since sends are batched per event-loop turn: ./turn-batching.ts)
      const full = Math.ceil(bulk.byteLength / 65519)
      assert.ok(noiseCipherStats.framed - framed >= 2 * full, `framed ${noiseCipherStats.framed - framed}`)
      assert.ok(noiseCipherStats.inPlace - inPlace >= 2 * full, `in place ${noiseCipherStats.inPlace - inPlace}`)
    } finally {
      await Promise.all([x.stop(), y.stop()])
    }
  })

  it('a bit flipped on the wire after the handshake ends that connection; the node carries on', async () => {
    const x = await startNode()
    const y = await startNode()
    // a TCP relay between x and y that flips one bit of what y receives, 200 kB in (well past
    // the handshake): y's in-place open must refuse that message
    const yAddr = y.net.host.getMultiaddrs()[0]!.toString().split('/p2p/')[0]!
    const yPort = Number(yAddr.split('/tcp/')[1]!.split('/')[0])
    let flipAt = 200_000
    const sockets = new Set<Socket>()
    const relay = createServer(inbound => {
      const out = connect(yPort, '127.0.0.1')
      sockets.add(inbound).add(out)
      inbound.on('data', (d: Buffer) => {
        if (flipAt >= 0 && flipAt < d.byteLength) d[flipAt]! ^= 0x01
        flipAt -= d.byteLength
        out.write(d)
      })
      out.on('data', (d: Buffer) => inbound.write(d))
      const end = (): void => { inbound.destroy(); out.destroy() }
      inbound.on('error', end).on('close', end)
      out.on('error', end).on('close', end)
    })
    await new Promise<void>(resolve => relay.listen(0, '127.0.0.1', resolve))
    try {
      await y.net.handle(ECHO, echo)
      const relayPort = (relay.address() as { port: number }).port
      const viaRelay = multiaddr(`/ip4/127.0.0.1/tcp/${relayPort}/p2p/${y.net.peerId.toString()}`)
      const data = new Uint8Array(randomBytes(1024 * 1024))
      const broken = await echoBytes(await x.net.dialProtocol(viaRelay, ECHO), data, 16_384).then(() => 'completed', (err: Error) => err.name)
      assert.notEqual(broken, 'completed', 'the corrupted transfer does not complete')
      assert.ok(flipAt < 0, 'the bit was flipped')
      // positive control: the same two nodes, directly, carry the same bytes
      const back = await echoBytes(await x.net.dialProtocol(multiaddr(`${yAddr}/p2p/${y.net.peerId.toString()}`), ECHO), data, 16_384)
      assert.equal(Buffer.compare(back, data), 0, 'a clean connection works')
    } finally {
      for (const s of sockets) s.destroy()
      relay.close()
      await Promise.all([x.stop(), y.stop()])
    }
  })

  it('a stock js-libp2p Noise peer and a node on the addon exchange data both ways', async () => {
    const d = await startNode()
    const plain = await startStockPeer()
    try {
      await d.net.handle(ECHO, echo)
      const inPlace = noiseCipherStats.inPlace
      for (const [size, chunk] of [[2 * 1024 * 1024 + 5, 70_000], [5000, 100]] as const) {
        const data = new Uint8Array(randomBytes(size))
        const there = await echoBytes(await d.net.dialProtocol(plain.getMultiaddrs()[0]!, ECHO), data, chunk)
        assert.equal(Buffer.compare(there, data), 0, `dmsnet -> stock -> dmsnet, ${size} bytes`)
        const back = await echoBytes(await plain.dialProtocol(d.net.host.getMultiaddrs()[0]!, ECHO), data, chunk)
        assert.equal(Buffer.compare(back, data), 0, `stock -> dmsnet -> stock, ${size} bytes`)
      }
      assert.ok(noiseCipherStats.inPlace > inPlace, 'the node opened the stock peer\'s messages in place')
    } finally {
      await Promise.all([d.stop(), plain.stop()])
    }
  })
})

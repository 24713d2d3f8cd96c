/**
 * Coalesced writes (src/network/coalesced-writes.ts): one socket write per Noise send on TCP
 * connections, counted on the real sockets of two real nodes; the bytes arrive intact, a stock
 * js-libp2p peer still talks to us, and connections that are not TCP are left alone.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Socket } from 'node:net'
import { describe, it } from 'node:test'
import { coalescedWriteStats, coalesceWrites } from '../../src/network/coalesced-writes.js'
import { nativeAead, noiseCipherStats } from '../../src/network/noise-cipher.js'
import { ECHO, echo, echoBytes, startNode, startStockPeer } from './helpers.js'
import type { MessageStream } from '@libp2p/interface'

// echoBytes (./helpers.ts) queues all of its data at once (4 MiB, bounded), so that yamux fills
// every Noise message to its maximum: the write count below is held against full-size messages. A
// writer that waits for each drain sends smaller, more numerous messages (one write each all the same).

describe('coalesced writes', () => {
  it('Noise messages cost one socket write each or less, not two; the bytes arrive intact', async () => {
    const a = await startNode()
    const b = await startNode()
    // count the socket-level writes (each one write or writev syscall) on a's sockets to b's TCP
    // port only; other traffic never matches
    type Internal = (this: Socket, ...args: unknown[]) => unknown
    const proto = Socket.prototype as unknown as { _write: Internal, _writev: Internal }
    const original = { _write: proto._write, _writev: proto._writev }
    let writes = 0
    let port = -1
    const spy = (fn: Internal): Internal => function (this: Socket, ...args: unknown[]) {
      if (this.remotePort === port) writes++
      return fn.apply(this, args)
    }
    try {
      await b.net.handle(ECHO, echo)
      const addr = b.net.host.getMultiaddrs()[0]!
      port = Number(addr.toString().split('/tcp/')[1]!.split('/')[0])
      const before = coalescedWriteStats.connections
      const stream = await a.net.dialProtocol(addr, ECHO)
      assert.ok(coalescedWriteStats.connections >= before + 2, 'both ends of the new connection coalesce')

      proto._write = spy(original._write)
      proto._writev = spy(original._writev)
      const data = new Uint8Array(randomBytes(4 * 1024 * 1024))
      const mergedBefore = coalescedWriteStats.merged
      const corkedBefore = coalescedWriteStats.corked
      const framedBefore = noiseCipherStats.framed
      const back = await echoBytes(stream, data, 64 * 1024)
      Object.assign(proto, original)

      assert.equal(Buffer.compare(back, data), 0, 'the echo returned every byte in order')
      // 4 MiB is at least 65 Noise messages; without coalescing each takes two writes (length, ciphertext)
      const messages = Math.ceil(data.byteLength / 65519)
      assert.ok(writes >= 1 && writes <= messages + 16, `${writes} socket writes for ${messages} Noise messages`)
      const corked = coalescedWriteStats.corked - corkedBefore
      assert.ok(corked > 0, 'bulk lists went out corked')
      if (nativeAead() != null) {
        // Noise on the addon (src/network/noise-cipher.ts) hands a small send over as one framed
        // buffer: nothing left to merge
        assert.ok(noiseCipherStats.framed - framedBefore > messages, 'small sends arrived as one buffer')
      } else {
        assert.ok(coalescedWriteStats.merged - mergedBefore > corked, 'small lists were merged by copy')
      }
    } finally {
      Object.assign(proto, original)
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('a stock js-libp2p peer exchanges data with a coalescing node', async () => {
    const d = await startNode()
    const plain = await startStockPeer()
    try {
      await d.net.handle(ECHO, echo)
      const data = new Uint8Array(randomBytes(1024 * 1024 + 7))
      const there = await echoBytes(await d.net.dialProtocol(plain.getMultiaddrs()[0]!, ECHO), data, 10_000)
      assert.equal(Buffer.compare(there, data), 0, 'dmsnet -> stock -> dmsnet')
      const back = await echoBytes(await plain.dialProtocol(d.net.host.getMultiaddrs()[0]!, ECHO), data, 10_000)
      assert.equal(Buffer.compare(back, data), 0, 'stock -> dmsnet -> stock')
    } finally {
      await Promise.all([d.stop(), plain.stop()])
    }
  })

  it('leaves a connection that is not TCP untouched', () => {
    const sendData = (): { sentBytes: number, canSendMore: boolean } => ({ sentBytes: 0, canSendMore: true })
    const notTcp = { sendData } as unknown as MessageStream
    assert.equal(coalesceWrites(notTcp), false)
    assert.equal((notTcp as unknown as { sendData: unknown }).sendData, sendData)
    // positive control: the same object with a socket is taken
    const tcpLike = { sendData, socket: { write: () => true, writable: true } } as unknown as MessageStream
    assert.equal(coalesceWrites(tcpLike), true)
    assert.notEqual((tcpLike as unknown as { sendData: unknown }).sendData, sendData)
  })
})

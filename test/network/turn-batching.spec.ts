/**
 * One Noise message per connection per event-loop turn (src/network/turn-batching.ts), on two
 * real nodes over TCP: short request/response streams (what a DHT query is) take fewer socket
 * writes than yamux frames, every byte arrives in order, a stock js-libp2p peer still talks to us
 * both ways, and a connection closed right after a write still delivers that write.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Socket } from 'node:net'
import { describe, it } from 'node:test'
import { BATCH_MAX, batchingWanted, turnBatchStats } from '../../src/network/turn-batching.js'
import { ECHO, echo, echoBytes, roundTrip, startNode, startStockPeer, waitFor } from './helpers.js'
import type { Stream } from '@libp2p/interface'

type Internal = (this: Socket, ...args: unknown[]) => unknown

/** Counts socket-level writes (each one write or writev syscall) on sockets whose remote port is `port()`. */
function countWrites (port: () => number): { writes: () => number, restore: () => void } {
  const proto = Socket.prototype as unknown as { _write: Internal, _writev: Internal }
  const original = { _write: proto._write, _writev: proto._writev }
  let n = 0
  const spy = (fn: Internal): Internal => function (this: Socket, ...args: unknown[]) {
    if (this.remotePort === port()) n++
    return fn.apply(this, args)
  }
  proto._write = spy(original._write)
  proto._writev = spy(original._writev)
  return { writes: () => n, restore: () => { Object.assign(proto, original) } }
}

/** Counts the yamux frames a muxer sends from now on (its `sendFrame`). */
function countFrames (muxer: unknown): () => number {
  const m = muxer as { sendFrame: (...a: unknown[]) => unknown }
  const sendFrame = m.sendFrame.bind(m)
  let n = 0
  m.sendFrame = (...a: unknown[]) => { n++; return sendFrame(...a) }
  return () => n
}

describe('turn batching', () => {
  it('short request/response streams take fewer socket writes than yamux frames; the bytes arrive intact', async () => {
    const a = await startNode()
    const b = await startNode()
    let port = -1
    const counter = countWrites(() => port)
    try {
      await b.net.handle(ECHO, echo)
      const addr = b.net.host.getMultiaddrs()[0]!
      port = Number(addr.toString().split('/tcp/')[1]!.split('/')[0])
      const before = turnBatchStats.connections
      await a.net.dial(addr)
      await waitFor(() => turnBatchStats.connections >= before + 2, 10_000, 'both ends of the new connection batch their sends')
      const conn = a.net.host.getConnections(b.net.peerId)[0]!
      const frames = countFrames((conn as unknown as { muxer: unknown }).muxer)
      const w0 = counter.writes()
      const deferred0 = turnBatchStats.deferred
      // what a DHT query is: open a stream, write a small request, read the answer, close
      for (let i = 0; i < 20; i++) {
        const text = `request ${i} ${randomBytes(8).toString('hex')}`
        const back = await roundTrip(await a.net.dialProtocol(b.net.peerId, ECHO), text)
        assert.equal(back, text)
      }
      const writes = counter.writes() - w0
      const sent = frames()
      // per stream a sends the SYN window update, the multistream proposal, the request and its
      // FIN: at least 60 frames; one write each without batching
      assert.ok(sent >= 60, `${sent} yamux frames sent`)
      assert.ok(turnBatchStats.deferred > deferred0, 'sends were held for the end of the turn')
      assert.ok(writes < sent * 0.75, `${writes} socket writes for ${sent} yamux frames`)
    } finally {
      counter.restore()
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('bulk data still goes out in full and in order', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      await b.net.handle(ECHO, echo)
      const data = new Uint8Array(randomBytes(3 * 1024 * 1024 + 13))
      // writes of every size around the batch limit
      for (const chunk of [100, BATCH_MAX - 1, BATCH_MAX + 1, 200_000]) {
        const back = await echoBytes(await a.net.dialProtocol(b.net.host.getMultiaddrs()[0]!, ECHO), data, chunk)
        assert.equal(Buffer.compare(back, data), 0, `every byte back in order (writes of ${chunk})`)
      }
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('a stock js-libp2p peer exchanges short and long messages with a batching node, both ways', async () => {
    const d = await startNode()
    const plain = await startStockPeer()
    try {
      await d.net.handle(ECHO, echo)
      for (let i = 0; i < 5; i++) {
        assert.equal(await roundTrip(await d.net.dialProtocol(plain.getMultiaddrs()[0]!, ECHO), `to stock ${i}`), `to stock ${i}`)
        assert.equal(await roundTrip(await plain.dialProtocol(d.net.host.getMultiaddrs()[0]!, ECHO), `from stock ${i}`), `from stock ${i}`)
      }
      const data = new Uint8Array(randomBytes(512 * 1024 + 3))
      const back = await echoBytes(await d.net.dialProtocol(plain.getMultiaddrs()[0]!, ECHO), data, 1000)
      assert.equal(Buffer.compare(back, data), 0)
    } finally {
      await Promise.all([d.stop(), plain.stop()])
    }
  })

  it('a write made just before the connection closes still arrives', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      const got = new Promise<string>((resolve, reject) => {
        void b.net.handle(ECHO, async (stream: Stream) => {
          let s = ''
          try {
            for await (const chunk of stream) s += new TextDecoder().decode(chunk.subarray())
            resolve(s)
          } catch (err) { reject(err as Error) }
        })
      })
      const stream = await a.net.dialProtocol(b.net.host.getMultiaddrs()[0]!, ECHO)
      const conn = a.net.host.getConnections(b.net.peerId)[0]!
      // the last data and the stream's FIN are held for the end of the turn; the connection closes in this one
      stream.send(new TextEncoder().encode('last words'))
      void stream.close().catch(() => {})
      await conn.close()
      assert.equal(await Promise.race([got, new Promise<string>((_resolve, reject) => setTimeout(() => { reject(new Error('nothing arrived in 10 s')) }, 10_000))]), 'last words')
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('DMSNET_BATCH_SENDS=0 (or off, false) turns it off; anything else leaves it on', () => {
    for (const v of ['0', 'off', 'false']) assert.equal(batchingWanted(v), false, v)
    for (const v of [undefined, '', '1', 'on']) assert.equal(batchingWanted(v), true, String(v))
  })
})

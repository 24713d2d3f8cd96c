/**
 * The widened yamux receive window: dmsnet peers give each other the full window after one frame,
 * while a standard libp2p peer (256 KiB spec window) is never overrun. Real nodes, loopback TCP.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { YAMUX_SPEC_WINDOW } from '../../src/network/yamux-window.js'
import { pause } from '../helpers/wait.js'
import { startNode, waitFor } from './helpers.js'
import type { Stream } from '@libp2p/interface'
import { drained } from '../../src/network/stream-drain.js'

const SINK = '/dmsnet-test/sink/1'
const MiB = 1024 * 1024

/** A plain js-libp2p node: TCP, noise, yamux with its given options (default: the spec window). */
async function plainNode (yamuxInit: Parameters<typeof yamux>[0] = {}): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(yamuxInit)]
  })
}

/** Counts bytes; resolves `done` with the total when the writer closes. */
function sink (): { handler: (s: Stream) => Promise<void>, done: Promise<number> } {
  let resolve!: (n: number) => void
  const done = new Promise<number>(r => { resolve = r })
  return {
    done,
    handler: async (stream) => {
      let n = 0
      try {
        for await (const chunk of stream) n += chunk.byteLength
      } catch {
        // a reset shows as a short count
      }
      resolve(n)
      await stream.close().catch(() => {})
    }
  }
}

async function writeAll (stream: Stream, total: number, chunkSize: number): Promise<void> {
  const chunk = new Uint8Array(chunkSize).fill(3)
  for (let sent = 0; sent < total; sent += chunkSize) {
    if (!stream.send(chunk)) await drained(stream, { signal: AbortSignal.timeout(10_000) })
  }
  await stream.close()
}

/** The receive window of the inbound stream a handler got (yamux internals), or -1. */
function recvWindowOf (stream: Stream): number {
  const w = (stream as unknown as { recvWindow?: number }).recvWindow
  return typeof w === 'number' ? w : -1
}

describe('yamux receive window', () => {
  it('a bulk stream grows its window to the maximum; a request stream keeps the spec window', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      const inbound: Stream[] = []
      const s = sink()
      await b.net.handle(SINK, async (stream) => { inbound.push(stream); await s.handler(stream) })
      const addr = b.net.host.getMultiaddrs()[0]!

      // small request: 1 KiB, nowhere near its window
      const small = await a.net.dialProtocol(addr, SINK)
      await writeAll(small, 1024, 1024)
      assert.equal(await s.done, 1024)
      assert.equal(recvWindowOf(inbound[0]!), YAMUX_SPEC_WINDOW, 'a stream that never fills its window does not grow')

      const bulk = sink()
      await b.net.unhandle(SINK)
      await b.net.handle(SINK, async (stream) => { inbound.push(stream); await bulk.handler(stream) })
      const big = await a.net.dialProtocol(addr, SINK)
      await writeAll(big, 64 * MiB, MiB)
      // frames stay at the configured cap (1 MiB), not the whole (now 16 MiB) window
      assert.equal((big as unknown as { maxMessageSize: number }).maxMessageSize, a.config.network.yamux.maxFrameSize)
      assert.equal(await bulk.done, 64 * MiB)
      assert.equal(recvWindowOf(inbound[1]!), a.config.network.yamux.maxStreamWindowSize, 'the bulk stream reached the maximum window')
      assert.equal(a.config.network.yamux.maxStreamWindowSize, 16 * MiB)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('credit goes back in quarter-window steps, not after every frame', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      const s = sink()
      const updates: number[] = []
      await b.net.handle(SINK, async (stream) => {
        // count the window updates this (receiving) side sends for the stream
        const internals = stream as unknown as { sendFrame: (h: { type: number, flag: number, length: number }) => boolean }
        const send = internals.sendFrame.bind(stream)
        internals.sendFrame = (h) => {
          if (h.type === 1 && h.flag === 0) updates.push(h.length)
          return send(h)
        }
        await s.handler(stream)
      })
      const out = await a.net.dialProtocol(b.net.host.getMultiaddrs()[0]!, SINK)
      // 2048 small writes of 1 KiB: stock yamux answers each frame with an update
      const chunk = new Uint8Array(1024).fill(5)
      for (let i = 0; i < 2048; i++) {
        if (!out.send(chunk)) await drained(out, { signal: AbortSignal.timeout(10_000) })
        if (i % 64 === 63) await pause(1) // let frames go out one by one, as request traffic does
      }
      await out.close()
      assert.equal(await s.done, 2 * MiB, 'every byte arrived')
      // 2 MiB through a 256 KiB window returned in >= 64 KiB steps: at most 32 updates
      assert.ok(updates.length >= 1 && updates.length <= 2 * MiB / (YAMUX_SPEC_WINDOW / 4), `${updates.length} window updates for 2 MiB`)
      assert.ok(updates.every(n => n >= YAMUX_SPEC_WINDOW / 4), `every update returns at least a quarter window (${updates.join(', ')})`)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('growth stops at the per-connection budget', async () => {
    const a = await startNode()
    const b = await startNode({ 'network.yamux.connectionWindowBudget': MiB })
    try {
      const inbound: Stream[] = []
      const s = sink()
      await b.net.handle(SINK, async (stream) => { inbound.push(stream); await s.handler(stream) })
      const big = await a.net.dialProtocol(b.net.host.getMultiaddrs()[0]!, SINK)
      await writeAll(big, 32 * MiB, MiB)
      assert.equal(await s.done, 32 * MiB)
      assert.equal(recvWindowOf(inbound[0]!), YAMUX_SPEC_WINDOW + MiB, 'spec window + the whole budget, no more')
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('200 stalled inbound streams with unread data hold one spec window each; the data arrives once read', async () => {
    const STREAMS = 200
    const PER_STREAM = MiB
    const d = await startNode({ 'network.yamux.maxInboundStreams': 1000 })
    // the sender is stock js-libp2p: it sends whatever credit it gets
    const attacker = await plainNode()
    try {
      const stalled: Stream[] = []
      // a handler that takes streams and does not read them (yet)
      await d.net.handle(SINK, (stream) => { stalled.push(stream) }, { maxInboundStreams: STREAMS + 10 })
      const addr = d.net.host.getMultiaddrs()[0]!
      const rssBefore = process.memoryUsage().rss
      const chunk = new Uint8Array(64 * 1024).fill(7)
      const outs: Stream[] = []
      const blocked = new Set<number>()
      const writers: Array<Promise<void>> = []
      for (let i = 0; i < STREAMS; i++) {
        const out = await attacker.dialProtocol(addr, SINK, { maxOutboundStreams: STREAMS + 10 } as never)
        outs.push(out)
        writers.push((async () => {
          for (let sent = 0; sent < PER_STREAM; sent += chunk.byteLength) {
            if (!out.send(chunk)) {
              blocked.add(i)
              await drained(out, { signal: AbortSignal.timeout(120_000) })
              blocked.delete(i)
            }
          }
          await out.close({ signal: AbortSignal.timeout(120_000) })
        })())
      }
      // every sender is stuck on the window (stock js-yamux would have taken all 200 MiB)
      await waitFor(() => stalled.length === STREAMS && blocked.size === STREAMS, 60_000, 'all senders blocked on the window')
      const unread = stalled.reduce((n, s) => n + (s as unknown as { readBufferLength: number }).readBufferLength, 0)
      const rssGrowth = process.memoryUsage().rss - rssBefore
      assert.ok(unread <= STREAMS * YAMUX_SPEC_WINDOW, `unread ${unread} > ${STREAMS} x 256 KiB`)
      assert.ok(unread >= STREAMS * YAMUX_SPEC_WINDOW * 0.75, `the senders did fill their windows (unread ${unread})`)
      // RSS: the buffered windows plus slack for the 400 stream objects, far below the 200 MiB sent
      assert.ok(rssGrowth < STREAMS * YAMUX_SPEC_WINDOW + 64 * MiB, `RSS grew ${Math.round(rssGrowth / MiB)} MiB`)
      assert.ok(d.net.isConnected(attacker.peerId), 'the connection is still up')

      // nothing accepted is lost: read every stream now, each gets all its bytes
      const totals = await Promise.all(stalled.map(async (stream) => {
        let n = 0
        for await (const c of stream) n += c.byteLength
        return n
      }))
      await Promise.all(writers)
      assert.deepEqual(new Set(totals), new Set([PER_STREAM]))
    } finally {
      await Promise.all([d.stop(), attacker.stop()])
    }
  })

  it('large writes to and from a standard js-libp2p peer (256 KiB window) go through', async () => {
    const d = await startNode()
    const plain = await plainNode()
    try {
      const toPlain = sink()
      await plain.handle(SINK, toPlain.handler)
      const toDms = sink()
      await d.net.handle(SINK, toDms.handler)

      const out = await d.net.dialProtocol(plain.getMultiaddrs()[0]!, SINK)
      await writeAll(out, 4 * MiB, MiB)
      assert.equal(await toPlain.done, 4 * MiB)

      const back = await plain.dialProtocol(d.net.host.getMultiaddrs()[0]!, SINK)
      await writeAll(back, 4 * MiB, MiB)
      assert.equal(await toDms.done, 4 * MiB)
      assert.ok(d.net.isConnected(plain.peerId), 'connection survived')
    } finally {
      await Promise.all([d.stop(), plain.stop()])
    }
  })

  it('(why) js-yamux with a raised initial window overruns a standard peer', async () => {
    const naive = await plainNode({ streamOptions: { initialStreamWindowSize: 16 * MiB, maxStreamWindowSize: 16 * MiB } })
    const plain = await plainNode()
    try {
      const s = sink()
      await plain.handle(SINK, s.handler)
      const stream = await naive.dialProtocol(plain.getMultiaddrs()[0]!, SINK)
      await writeAll(stream, 4 * MiB, MiB).catch(() => {})
      assert.ok(await s.done < 4 * MiB, 'the standard peer reset the stream')
    } finally {
      await Promise.all([naive.stop(), plain.stop()])
    }
  })
})

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
import { startNode, waitFor } from './helpers.js'
import type { Stream } from '@libp2p/interface'

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
    if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(10_000) })
  }
  await stream.close()
}

describe('yamux receive window', () => {
  it('dmsnet peers grant each other the configured window after the first frame', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      const s = sink()
      await b.net.handle(SINK, s.handler)
      const stream = await a.net.dialProtocol(b.net.host.getMultiaddrs()[0]!, SINK)
      stream.send(new Uint8Array(10))
      const internals = stream as unknown as { sendWindowCapacity?: number }
      assert.equal(typeof internals.sendWindowCapacity, 'number', 'yamux stream internals as expected')
      await waitFor(() => (internals.sendWindowCapacity ?? 0) > YAMUX_SPEC_WINDOW, 5000, 'window credit from the peer')
      assert.ok(internals.sendWindowCapacity! >= 16 * MiB - 64 * 1024, `credit ${internals.sendWindowCapacity}`)
      // but frames stay at the configured cap (1 MiB), not the whole window
      const frame = (stream as unknown as { maxMessageSize: number }).maxMessageSize
      assert.equal(frame, a.config.network.yamux.maxFrameSize)
      assert.equal(frame, MiB)
      await writeAll(stream, 8 * MiB, MiB)
      assert.equal(await s.done, 10 + 8 * MiB)
    } finally {
      await Promise.all([a.stop(), b.stop()])
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

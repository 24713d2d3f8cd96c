/**
 * drained(): a writer that honours backpressure waits for the stream's next 'drain' every time.
 * Upstream `stream.onDrain()` (@libp2p/utils 7.4.x) resolves at once after the first drain, so a
 * send loop built on it stops waiting; this test fails if drained() is replaced by it. Real nodes
 * over loopback TCP; the receiver holds the sender back by not reading (no credit, full window).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { drained } from '../../src/network/stream-drain.js'
import { pause } from '../helpers/wait.js'
import { startNode, waitFor } from './helpers.js'
import type { Stream } from '@libp2p/interface'

const P = '/dmsnet-test/drain/1'
const CHUNK = new Uint8Array(64 * 1024).fill(7)
const LIMIT = 128 * 1024 * 1024 // bounds each fill loop: windows top out at 16 MiB

/**
 * Sends until the stream is really held back: the first "wait" from send() may only be the local
 * buffer moving into the muxer, so it fills again after every drain that comes within 300 ms.
 * Returns the bytes sent and the wait that did not end (the receiver is not taking data).
 */
async function fillUntilHeld (s: Stream): Promise<{ sent: number, wait: Promise<void> }> {
  let sent = 0
  // a loopback muxer drains its local buffer a few times before the window holds; a wait that
  // keeps ending (upstream onDrain after its first drain) is a failure, not a reason to go on
  for (let waits = 0; sent < LIMIT && waits < 40;) {
    sent += CHUNK.byteLength
    if (s.send(CHUNK)) continue
    waits++
    const wait = drained(s, { signal: AbortSignal.timeout(60_000) })
    if (!await settlesWithin(wait, 300)) return { sent, wait }
  }
  throw new Error(`the writer was never held back (${sent} bytes sent): its drain wait kept ending while the receiver read nothing`)
}

/** Whether `p` settled within `ms` (it keeps running either way). */
async function settlesWithin (p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false
  p.then(() => { settled = true }, () => { settled = true })
  await pause(ms) // a drain that the muxer alone can give comes within a loopback round trip
  return settled
}

describe('stream drain', () => {
  it('waits for the next drain after the first one, and resolves once the reader takes data', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      let inbound: Stream | undefined
      let received = 0
      await b.net.handle(P, async (stream) => { inbound = stream }) // nobody reads yet
      const s = await a.net.dialProtocol(b.net.host.getMultiaddrs()[0]!, P)
      await waitFor(() => inbound != null, 10_000, 'inbound stream')

      const { sent: sent1, wait: first } = await fillUntilHeld(s)
      const reading = (async () => { for await (const c of inbound!) received += c.byteLength })()
      await first
      assert.ok(received > 0, 'the first drain came from the reader taking data')

      // the same stream a second time: upstream onDrain() would now return at once
      await waitFor(() => received >= sent1, 30_000, 'the first fill consumed')
      inbound!.pause()
      const { sent: sent2, wait: second } = await fillUntilHeld(s)
      // upstream's onDrain() would resolve here at once: its promise from the first drain is reused
      assert.equal(await settlesWithin(second, 300), false, 'the second wait holds while the receiver is paused')
      assert.equal(s.writableNeedsDrain, true)
      inbound!.resume()
      await second
      await s.close()
      await reading
      assert.equal(received, sent1 + sent2, 'every byte arrived')
    } finally {
      await a.stop()
      await b.stop()
    }
  })

  it('returns at once when no drain is needed, times out as TimeoutError, fails with StreamClosedError on close', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      let inbound: Stream | undefined
      await b.net.handle(P, async (stream) => { inbound = stream })
      const s = await a.net.dialProtocol(b.net.host.getMultiaddrs()[0]!, P)
      await waitFor(() => inbound != null, 10_000, 'inbound stream')
      await drained(s) // positive control: nothing queued, nothing to wait for
      const { wait: held } = await fillUntilHeld(s)
      held.catch(() => {}) // ends with the abort below
      await assert.rejects(drained(s, { signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' })
      const wait = drained(s, { signal: AbortSignal.timeout(30_000) })
      s.abort(new Error('test closes the stream'))
      await assert.rejects(wait, { name: 'StreamClosedError' })
    } finally {
      await a.stop()
      await b.stop()
    }
  })
})

/**
 * Direct-message readers against a peer that trickles or forges, on real nodes over loopback TCP:
 * a frame begun must arrive within `frameTimeoutMs` (else `SlowFrameError`, a `slow` drop, the
 * stream reset and its partial frame freed) while the same peer's other streams keep working; an
 * answer frame that matches no call of ours is counted (`unsolicited`) and ignored.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { randomBytes } from 'node:crypto'
import { encodeCompactHeader } from '../../src/messaging/compact.js'
import { FrameDecoder, FrameKind, MessageFlags, encodeFrame } from '../../src/messaging/framing.js'
import { bound, pause } from '../helpers/wait.js'
import { waitFor } from '../network/helpers.js'
import { dec, dropCount, enc, startMesh, stopAll, type MsgNode } from './helpers.js'
import { RawMessageClient } from './hostile-helpers.js'

const FRAME_TIMEOUT = bound(1500)

describe('messaging readers: a trickling or forging peer', { timeout: 60_000 }, () => {
  let nodes: MsgNode[] = []
  let victim: MsgNode, attacker: MsgNode

  before(async () => {
    nodes = await startMesh(2, { maxMessageSize: 64 * 1024, frameTimeoutMs: FRAME_TIMEOUT })
    ;[victim, attacker] = nodes as [MsgNode, MsgNode]
    victim.messaging.registerHandler('t.echo', (m) => m.payload)
  })
  after(async () => { await stopAll(nodes) })

  it('a frame trickled slower than frameTimeoutMs is cut off (a slow drop, stream reset); a split frame in time and other streams go through', async () => {
    const c = new RawMessageClient(await attacker.node.net.dialProtocol(victim.id, victim.messaging.config.protocolV2))
    // a compact (connection-authenticated) t.echo request, as the v2 sender writes it
    const unsigned = (id: number, payload: Uint8Array): Uint8Array =>
      encodeFrame(FrameKind.Message, id, encodeCompactHeader(MessageFlags.WantResponse, { type: 't.echo', nonce: randomBytes(16), expiry: Date.now() + 30_000 }), payload)
    // positive control for the deadline: one frame in two halves, 300 ms apart, is answered
    const whole = unsigned(1, new Uint8Array(1000))
    c.stream.send(whole.subarray(0, 500))
    await pause(300) // the second half arrives later, well within the frame timeout
    c.stream.send(whole.subarray(500))
    assert.equal((await c.answer(1)).kind, FrameKind.Response)

    // the trickle: a 50 kB frame announced, then one byte per 100 ms
    const slow = unsigned(2, new Uint8Array(50_000))
    c.stream.send(slow.subarray(0, 100))
    const before = await dropCount(victim, 'slow')
    let sent = 100
    const t0 = Date.now()
    for (let i = 0; i < 200 && !c.closed; i++) {
      try { c.stream.send(slow.subarray(sent, sent + 1)) } catch { break }
      sent++
      assert.ok(victim.messaging.stats().inboundBufferedBytes <= 64 * 1024 + 1024)
      // meanwhile the same peer's regular channel keeps working
      if (i === 3) assert.equal(dec(await attacker.messaging.request(victim.id, 't.echo', enc('still here'))), 'still here')
      await pause(100) // the trickle's pace
    }
    await waitFor(() => c.closed, 10_000, 'the trickling stream to be reset')
    const took = Date.now() - t0
    assert.ok(took >= FRAME_TIMEOUT - 200, `cut off after ${took} ms, before the frame timeout`)
    assert.equal(await dropCount(victim, 'slow') - before, 1)
    assert.equal(c.answers.has(2), false, 'the trickled frame was never handled')
    await waitFor(() => victim.messaging.stats().inboundBufferedBytes === 0, 5_000, 'the partial frame to be freed')
    assert.equal(dec(await attacker.messaging.request(victim.id, 't.echo', enc('after'))), 'after')
  })

  it('answer frames that match no call are counted as unsolicited and ignored; the real answer still settles the call', async () => {
    const proto = victim.messaging.config.protocolV2
    await attacker.messaging.stop()
    try {
      // the attacker answers every message with a forged ack for an id never sent, then the real one
      await attacker.node.net.handle(proto, (stream) => {
        const d = new FrameDecoder(1 << 20)
        stream.addEventListener('message', (e) => {
          for (const f of d.push(e.data)) {
            if (f instanceof Error) continue
            stream.send(encodeFrame(FrameKind.Ack, f.id + 1000))
            stream.send(encodeFrame(FrameKind.Ack, f.id))
          }
        })
      })
      const before = await dropCount(victim, 'unsolicited')
      await victim.messaging.sendMessage(attacker.id, 't.any', enc('hi'))
      await waitFor(async () => await dropCount(victim, 'unsolicited') - before === 1, 5_000, 'the forged answer to be counted')
    } finally {
      await attacker.node.net.unhandle(proto).catch(() => {})
    }
  })
})

/**
 * docs/protocols.md: "a receiver accepts at most 16 inbound streams per connection". An attacker
 * (a plain libp2p node, no messaging of its own, so none of our sender-side limits apply) opens
 * messaging streams to a victim on one connection and holds them idle. Real nodes over loopback
 * TCP. The 17th is reset by the victim and never served; with one of the 16 closed, a new one is
 * served again, and an honest peer's messages go through meanwhile (the positive controls).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startNode, waitFor } from '../network/helpers.js'
import { dec, enc, startMsgNode, stopAll } from './helpers.js'
import type { Stream } from '@libp2p/interface'

const MSG_V2 = '/dmsnet/msg/2.0.0'

test('messaging: a peer holding 16 inbound streams on one connection gets the 17th reset; the victim still serves others', { timeout: 60_000 }, async (t) => {
  const victim = await startMsgNode()
  const honest = await startMsgNode()
  const attacker = await startNode()
  t.after(async () => { await stopAll([victim, honest]); await attacker.stop() })
  const got: string[] = []
  victim.messaging.registerHandler('t.cap', (m) => { got.push(dec(m.payload)) })
  await attacker.net.dial(victim.addr)

  const open = async (): Promise<Stream> => {
    const s = await attacker.net.dialProtocol(victim.addr, MSG_V2, { signal: AbortSignal.timeout(8000) })
    // the protocol is only settled when the victim answers multistream-select: send nothing else
    return s
  }
  const held: Stream[] = []
  for (let i = 0; i < 16; i++) held.push(await open())
  await waitFor(() => victim.messaging.stats().inboundStreams >= 16, 10_000, 'the victim to serve 16 streams from the attacker')
  assert.equal(attacker.net.host.getConnections(victim.node.net.peerId).length, 1, 'all on one connection')

  // the 17th: negotiated, then reset by the victim's registrar without being served
  const extra = await open()
  await waitFor(() => extra.status === 'reset', 10_000, 'the 17th stream to be reset')
  assert.equal(victim.messaging.stats().inboundStreams, 16, 'the victim serves no 17th stream')
  assert.ok(held.every(s => s.status === 'open'), 'the 16 held streams are untouched')

  // an honest peer still gets its message through
  await honest.node.net.dial(victim.addr)
  await honest.messaging.sendMessage(victim.id, 't.cap', enc('honest'))
  assert.deepEqual(got, ['honest'])

  // positive control: with one of the 16 closed (half-closed: the victim closes its side too), the
  // attacker's next stream is served again
  const serving = victim.messaging.stats().inboundStreams
  const gone = held.pop()!
  await gone.close()
  await waitFor(() => victim.messaging.stats().inboundStreams === serving - 1, 10_000, 'the victim to close the stream the attacker closed')
  assert.equal(gone.status, 'closed')
  const again = await open()
  await waitFor(() => victim.messaging.stats().inboundStreams === serving, 10_000, 'the new stream served')
  assert.equal(again.status, 'open')
})

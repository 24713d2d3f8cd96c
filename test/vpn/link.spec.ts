// PeerLink on in-memory stream pairs: ordered delivery through the reassembler, the tie-break
// between a designated-dialer stream and a fallback one, drop-tail while no stream is open, and
// the send stalls (a stream that refused more) it counts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import { PeerLink } from '../../src/vpn/link.js'
import { buildBatch, iterateRecords } from '../../src/netdev/records.js'
import { waitFor } from '../helpers/wait.js'

function link (got: Uint8Array[] = [], maxQueueBytes = 1 << 20): PeerLink {
  return new PeerLink({
    peerId: 'peer',
    maxQueueBytes,
    minPayload: 20,
    onRecords: (_l, run) => { got.push(...Array.from(iterateRecords(run), p => p.slice())) },
    onStreamClosed: () => {}
  })
}

const payload = (n: number): Uint8Array => new Uint8Array(40).fill(n)

test('records queued before the stream exists are sent in order once it is attached', async () => {
  const got: Uint8Array[] = []
  const tx = link()
  const rx = link(got)
  for (let i = 0; i < 10; i++) tx.send(buildBatch([payload(i)]), 1)
  assert.equal(tx.queuedBytes, 10 * 44)
  const [out, inb] = await streamPair()
  rx.attach(inb, false)
  tx.attach(out, false)
  for (let i = 10; i < 20; i++) tx.send(buildBatch([payload(i)]), 1)
  await waitFor(() => got.length >= 20, 15_000, '20 records delivered')
  assert.deepEqual(got.map(p => p[0]), Array.from({ length: 20 }, (_, i) => i))
  assert.equal(tx.stats.txPackets, 20)
  assert.equal(tx.queuedBytes, 0)
})

test('a live stream from the designated dialer is not replaced by a fallback stream, but replaces one', async () => {
  const l = link()
  const [p1] = await streamPair()
  const [f1] = await streamPair()
  assert.equal(l.attach(p1, false, true), true)
  assert.equal(l.attach(f1, false, false), false, 'fallback refused while the preferred stream is live')
  assert.equal(l.stream, p1)
  const l2 = link()
  const [f2] = await streamPair()
  const [p2] = await streamPair()
  assert.equal(l2.attach(f2, false, false), true)
  assert.equal(l2.attach(p2, true, true), true, 'the designated dialer\'s stream wins')
  assert.equal(l2.stream, p2)
  assert.equal(l2.relayed, true)
})

test('without a stream the queue is bounded: drop-tail, counted', () => {
  const l = link([], 1000)
  for (let i = 0; i < 50; i++) l.send(buildBatch([payload(i)]), 1)
  assert.ok(l.queuedBytes <= 1000)
  assert.equal(l.stats.dropQueueFull, 50 - Math.floor(1000 / 44))
})

test('a stream that refuses more (send() false) is waited for: the stall is counted and timed, and every record still arrives in order', async () => {
  const got: Uint8Array[] = []
  const tx = link([], 64 << 20)
  const rx = link(got)
  const [out, inb] = await streamPair()
  rx.attach(inb, false)
  tx.attach(out, false)
  // 64 records of 16 KiB in one go: more than the stream buffers before it asks for a drain
  const big = (n: number): Uint8Array => new Uint8Array(16 * 1024).fill(n)
  for (let i = 0; i < 64; i++) tx.send(buildBatch([big(i)]), 1)
  assert.ok((tx.stats.sendStalls ?? 0) >= 1, `the stream refused more at least once (stalls ${tx.stats.sendStalls})`)
  await waitFor(() => got.length >= 64, 15_000, '64 records delivered')
  assert.deepEqual(got.map(p => p[0]), Array.from({ length: 64 }, (_, i) => i))
  assert.ok(Number.isInteger(tx.stats.sendStalledMs) && tx.stats.sendStalledMs! >= 0, 'the wait for the drain was timed, in whole ms')
  assert.equal(tx.queuedBytes, 0)
})

/**
 * No acknowledged message is lost across key rotations, and a message caught in flight by a key
 * switch is retried and applied once: a member sends numbered messages (the number is the
 * application's id) while the creator rotates the key twice. One message is held in the receiver's
 * handler, unacknowledged, while the first rotation switches every host: its first attempt fails
 * with the old connection, the sender retries it on the new key, the receiver sees it twice and
 * applies it once (deduplicated by id), as docs/swarm.md tells applications to do.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLogger } from '../../src/logging.js'
import { createMessaging, type Messaging } from '../../src/messaging/index.js'
import { loadOrCreateIdentity } from '../../src/network/identity.js'
import { pause } from '../helpers/wait.js'
import { removeDir, startSwarmNode, waitFor, type SwarmNode } from './helpers.js'

const TYPE = 'dmsnet-test.seq'
const RETRYABLE = new Set(['StreamClosedError', 'DialError', 'TimeoutError', 'PeerNotFoundError', 'AbortedError', 'StreamResetError', 'StreamStateError', 'ConnectionClosedError'])

async function messagingOf (n: SwarmNode): Promise<Messaging> {
  const { privateKey } = await loadOrCreateIdentity(n.config.network.identityFile)
  const m = createMessaging({ network: n.net, privateKey, config: { ackTimeoutMs: 3000 }, logger: createLogger('messaging', 'silent') })
  await m.start()
  return m
}

interface Attempt { seq: number, startedAt: number, endedAt: number, error?: string }

test('a send in flight at a key switch is retried on the new key and applied once; no acked message is lost across two rotations', { timeout: 150_000 }, async (t) => {
  const nodes = await Promise.all([0, 1, 2].map(async () => await startSwarmNode()))
  const [A, B, C] = nodes as [SwarmNode, SwarmNode, SwarmNode]
  const ms: Messaging[] = []
  t.after(async () => {
    for (const m of ms) await m.stop().catch(() => {})
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    for (const n of nodes) removeDir(n.dir)
  })
  const st = await A.swarm.create('msgs', [B.id, C.id])
  await B.swarm.join(st.keyService[0]!)
  await C.swarm.join(st.keyService[0]!)
  const mb = await messagingOf(B)
  const mc = await messagingOf(C)
  ms.push(mb, mc)

  // the receiver: counts deliveries per id, applies each id once; holds HOLD's first delivery
  const HOLD = 20
  const deliveries = new Map<number, number>()
  const applied: number[] = []
  let held!: () => void
  const heldP = new Promise<void>(resolve => { held = resolve })
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  mc.registerHandler(TYPE, async (m) => {
    const seq = Number(new TextDecoder().decode(m.payload))
    const n = (deliveries.get(seq) ?? 0) + 1
    deliveries.set(seq, n)
    if (seq === HOLD && n === 1) { held(); await gate }
    if (!applied.includes(seq)) applied.push(seq)
  })

  // the sender: sequential sends, each retried on a retryable error until acknowledged
  const N = 150
  const acked: number[] = []
  const attempts: Attempt[] = []
  const sender = (async () => {
    for (let seq = 0; seq < N; seq++) {
      const deadline = Date.now() + 60_000
      for (;;) {
        const a: Attempt = { seq, startedAt: Date.now(), endedAt: 0 }
        attempts.push(a)
        try {
          await mb.sendMessage(C.id, TYPE, new TextEncoder().encode(String(seq)), { timeoutMs: 3000 })
          a.endedAt = Date.now()
          acked.push(seq)
          break
        } catch (err) {
          a.endedAt = Date.now()
          a.error = (err as Error).name
          if (!RETRYABLE.has(a.error) || Date.now() > deadline) throw err
          await pause(100) // back-off between retries, as an application would
        }
      }
      await pause(5) // pacing: keep the sender busy without flooding
    }
  })()
  const senderFailed = sender.then(() => false, () => true)

  // first rotation while HOLD sits unacknowledged in C's handler
  await Promise.race([heldP, senderFailed.then(() => { throw new Error('sender failed before the hold') })])
  const switchedAt = Date.now()
  await A.swarm.rotate()
  await waitFor(() => B.swarm.status().epoch === 2 && C.swarm.status().epoch === 2, 30_000, 'epoch 2')
  // the held delivery's ack can only go to a connection that the switch closed
  release()
  await waitFor(() => acked.length >= 70, 60_000, 'more messages acked')
  await A.swarm.rotate()
  await sender
  assert.equal(C.swarm.status().epoch, 3)

  // nothing acked was lost, and every id was applied exactly once, in order
  assert.equal(acked.length, N)
  assert.deepEqual(applied, Array.from({ length: N }, (_, i) => i))
  // HOLD was in flight at the switch: its first attempt began before and failed after it, with a
  // retryable error; a retry on the new key was acknowledged; the receiver saw it twice
  const holdAttempts = attempts.filter(a => a.seq === HOLD)
  assert.ok(holdAttempts.length >= 2, `HOLD attempts: ${JSON.stringify(holdAttempts)}`)
  const first = holdAttempts[0]!
  assert.ok(first.startedAt <= switchedAt && first.endedAt >= switchedAt, `first attempt spans the switch: ${JSON.stringify(first)}`)
  assert.ok(first.error != null && RETRYABLE.has(first.error), `first attempt failed with a retryable error: ${first.error}`)
  assert.equal(holdAttempts.at(-1)!.error, undefined, 'the last attempt was acknowledged')
  assert.equal(deliveries.get(HOLD), 2, 'the receiver saw the retried message twice and applied it once')
  const retried = attempts.filter(a => a.error != null).length
  console.error(`# ${N} messages acked across 2 rotations; ${retried} failed attempts retried; HOLD delivered ${deliveries.get(HOLD)}x, applied once`)
})

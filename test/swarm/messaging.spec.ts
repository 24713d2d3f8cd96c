/**
 * No acknowledged message is lost across key rotations: a member keeps sending acknowledged
 * messages (retrying the unacknowledged ones, as docs/swarm.md describes) while the creator
 * rotates the key twice; every acknowledged message was received, and all arrive in the end.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLogger } from '../../src/logging.js'
import { createMessaging, type Messaging } from '../../src/messaging/index.js'
import { loadOrCreateIdentity } from '../../src/network/identity.js'
import { removeDir, startSwarmNode, waitFor, type SwarmNode } from './helpers.js'

const TYPE = 'dmsnet-test.seq'
const RETRYABLE = new Set(['StreamClosedError', 'DialError', 'TimeoutError', 'PeerNotFoundError', 'AbortedError', 'StreamResetError', 'StreamStateError', 'ConnectionClosedError'])

async function messagingOf (n: SwarmNode): Promise<Messaging> {
  const { privateKey } = await loadOrCreateIdentity(n.config.network.identityFile)
  const m = createMessaging({ network: n.net, privateKey, config: { ackTimeoutMs: 3000 }, logger: createLogger('messaging', 'silent') })
  await m.start()
  return m
}

test('acknowledged messages survive key rotations (sender retries the rest)', { timeout: 150_000 }, async (t) => {
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
  const received = new Set<number>()
  mc.registerHandler(TYPE, (m) => { received.add(Number(new TextDecoder().decode(m.payload))) })

  const N = 150
  const acked: number[] = []
  let retries = 0
  const sender = (async () => {
    for (let seq = 0; seq < N; seq++) {
      const deadline = Date.now() + 60_000
      for (;;) {
        try {
          await mb.sendMessage(C.id, TYPE, new TextEncoder().encode(String(seq)), { timeoutMs: 3000 })
          acked.push(seq)
          break
        } catch (err) {
          if (!RETRYABLE.has((err as Error).name) || Date.now() > deadline) throw err
          retries++
          await new Promise(resolve => setTimeout(resolve, 100))
        }
      }
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  })()

  // rotate twice while the sender is busy
  await waitFor(() => acked.length >= 20, 30_000, 'first messages acked')
  await A.swarm.rotate()
  await waitFor(() => B.swarm.status().epoch === 2 && C.swarm.status().epoch === 2, 30_000, 'epoch 2')
  await waitFor(() => acked.length >= 70, 60_000, 'more messages acked')
  await A.swarm.rotate()
  await sender
  assert.equal(acked.length, N)
  for (const seq of acked) assert.ok(received.has(seq), `acked message ${seq} was received`)
  assert.equal(C.swarm.status().epoch, 3)
  console.error(`# ${N} messages acked across 2 rotations, ${retries} retries`)
})

/**
 * gossipsub with strict signing between go-libp2p-pubsub and dmsnet, dmsnet nodes in a star
 * around the Go peer: what Go publishes reaches every dmsnet subscriber, what a dmsnet node
 * publishes reaches Go (whose spec-only envelope check says valid) and, forwarded by Go, every
 * other dmsnet subscriber. Forged envelopes from Go are rejected by dmsnet's validator and
 * counted by reason; unsigned gossip (a Go peer without signing) is rejected by dmsnet's
 * StrictSign gossipsub and counted as a `bad-signature` drop; signed messages in the same tests
 * get through.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type { ReceivedMessage } from '../../src/messaging/types.js'
import { waitFor } from '../network/helpers.js'
import { GoPeer } from './go-peer.js'
import { dropped, startInteropNode, type InteropNode } from './nodes.js'

const TOPIC = '/dmsnet-interop/gossip/1.0.0'
const N = 4

/** gossipsub's mesh is not on its public interface; the implementation has `getMeshPeers`. */
const meshPeers = (n: InteropNode): string[] => (n.node.net.host.services.pubsub as unknown as { getMeshPeers(t: string): string[] }).getMeshPeers(TOPIC)

describe('interop gossipsub (strict signing): go peer + 4 dmsnet subscribers', () => {
  let go: GoPeer
  const nodes: InteropNode[] = []
  const inbox = new Map<string, ReceivedMessage[]>()
  const extra: GoPeer[] = []
  const hex = (s: string): string => Buffer.from(s).toString('hex')
  const got = (n: InteropNode, text: string): ReceivedMessage[] => inbox.get(n.id)!.filter(m => Buffer.from(m.payload).toString() === text)

  before(async () => {
    go = await GoPeer.start({ pubsub: true })
    await go.cmd('sub', [TOPIC])
    for (let i = 0; i < N; i++) {
      const n = await startInteropNode()
      nodes.push(n)
      inbox.set(n.id, [])
      n.messaging.subscribe(TOPIC, (m) => { inbox.get(n.id)!.push(m) })
      await n.node.net.dial(go.addr)
    }
    await waitFor(async () => (await go.cmd('topic-peers', [TOPIC])).length === N, 20_000, 'go sees 4 subscribers')
    // dmsnet nodes grafted the go peer into their mesh (needed for go to forward between them)
    await waitFor(() => nodes.every(n => meshPeers(n).includes(go.id)), 20_000, 'mesh with the go peer')
  })

  after(async () => {
    for (const g of [go, ...extra]) await g?.stop()
    for (const n of nodes) await n.stop()
  })

  test('messages published by go reach every dmsnet subscriber, signer verified', async () => {
    const texts = Array.from({ length: 20 }, (_, i) => `from-go-${i}-${randomBytes(4).toString('hex')}`)
    for (const t of texts) await go.cmd('pub', [TOPIC, 'interop.note', hex(t)])
    await waitFor(() => nodes.every(n => texts.every(t => got(n, t).length === 1)), 20_000, 'every subscriber got all 20')
    for (const n of nodes) {
      for (const t of texts) {
        const m = got(n, t)[0]!
        assert.equal(m.from, go.id)
        assert.equal(m.type, 'interop.note')
        assert.equal(m.topic, TOPIC)
      }
    }
  })

  test('messages published by dmsnet reach go (envelope valid by the spec) and every other subscriber', async () => {
    const sent: Array<{ from: string, text: string }> = []
    for (const n of nodes) {
      for (let i = 0; i < 5; i++) {
        const text = `from-dmsnet-${n.id.slice(-6)}-${i}`
        await n.messaging.publish(TOPIC, 'interop.note', Buffer.from(text))
        sent.push({ from: n.id, text })
      }
    }
    const events = await go.waitEvents(e => e.name === 'msg' && e.args[0] === TOPIC && sent.some(s => hex(s.text) === e.args[4]), sent.length, 20_000)
    for (const s of sent) {
      const e = events.find(x => x.args[4] === hex(s.text))
      assert.ok(e != null, `go got ${s.text}`)
      assert.deepEqual(e.args.slice(1, 4), [s.from, 'valid', 'interop.note'])
    }
    // forwarded by go to the other dmsnet nodes (the only path between them)
    await waitFor(() => nodes.every(n => sent.filter(s => s.from !== n.id).every(s => got(n, s.text).length === 1)), 20_000, 'forwarded through go')
    for (const n of nodes) assert.equal(n.node.net.host.getConnections().filter(c => c.remotePeer.toString() !== go.id).length, 0, 'star topology')
  })

  test('forged envelopes from go are rejected by dmsnet\'s validator and counted; a good one passes', async () => {
    const cases = [
      { mode: 'bad-sig', reason: 'bad-signature' },
      { mode: 'wrong-sender', reason: 'wrong-sender' },
      { mode: 'wrong-topic', reason: 'topic-mismatch' },
      { mode: 'not-envelope', reason: 'undecodable' }
    ]
    const before = await Promise.all(nodes.map(async n => Promise.all(cases.map(async c => dropped(n, c.reason)))))
    for (const c of cases) await go.cmd('pub', [TOPIC, 'interop.note', hex(`forged-${c.mode}`), c.mode])
    const control = `good-after-forged-${randomBytes(4).toString('hex')}`
    await go.cmd('pub', [TOPIC, 'interop.note', hex(control)])
    await waitFor(() => nodes.every(n => got(n, control).length === 1), 20_000, 'the good message after the forged ones')
    for (const [i, n] of nodes.entries()) {
      await waitFor(async () => (await Promise.all(cases.map(async (c, j) => (await dropped(n, c.reason)) > before[i]![j]!))).every(Boolean), 10_000, `drops counted on ${n.id}`)
      for (const c of cases) assert.equal(got(n, `forged-${c.mode}`).length + got(n, `tampered:forged-${c.mode}`).length, 0, `${c.mode} delivered`)
    }
  })

  test('unsigned gossip from a go peer without signing is rejected (StrictSign) and counted; signed passes', async () => {
    const lax = await GoPeer.start({ pubsub: true, pubsubSign: false })
    extra.push(lax)
    await lax.cmd('sub', [TOPIC])
    for (const n of nodes) await lax.cmd('connect', [`${n.addr}`])
    await waitFor(async () => (await lax.cmd('topic-peers', [TOPIC])).length >= N, 20_000, 'unsigned peer sees the subscribers')
    const invalid = async (n: InteropNode): Promise<number> => dropped(n, 'bad-signature')
    const before = await Promise.all(nodes.map(invalid))
    // its envelope is properly signed by the spec; only the gossipsub signature is missing
    await lax.cmd('pub', [TOPIC, 'interop.note', hex('unsigned-gossip')])
    const control = `signed-control-${randomBytes(4).toString('hex')}`
    await go.cmd('pub', [TOPIC, 'interop.note', hex(control)])
    await waitFor(() => nodes.every(n => got(n, control).length === 1), 20_000, 'the signed control')
    for (const [i, n] of nodes.entries()) {
      await waitFor(async () => (await invalid(n)) > before[i]!, 10_000, `unsigned gossip counted on ${n.id}`)
      assert.equal(got(n, 'unsigned-gossip').length, 0)
    }
  })
})

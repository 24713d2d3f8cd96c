/**
 * Direct messages between real nodes over loopback TCP: delivery, acknowledgement,
 * request/response, ordering under load, handler registry rules, send to self.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { publicProfile } from '../../src/network/host.js'
import { pause } from '../helpers/wait.js'
import { waitFor } from '../network/helpers.js'
import { startMesh, stopAll, enc, dec, type MsgNode } from './helpers.js'

describe('messaging: direct', () => {
  let nodes: MsgNode[] = []
  before(async () => { nodes = await startMesh(2) })
  after(async () => { await stopAll(nodes) })

  it('delivers a message and resolves after the remote handler accepted it', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    const got: Array<{ from: string, text: string }> = []
    b.messaging.registerHandler('t.hello', (m) => { got.push({ from: m.from, text: dec(m.payload) }) })
    await a.messaging.sendMessage(b.id, 't.hello', enc('hello'))
    assert.deepEqual(got, [{ from: a.id, text: 'hello' }])
    assert.equal(a.messaging.stats().acked, 1)
  })

  it('request returns the handler result', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    b.messaging.registerHandler('t.echo', (m) => enc(`echo:${dec(m.payload)}:${m.from}`))
    const r = await a.messaging.request(b.id, 't.echo', enc('x'))
    assert.equal(dec(r), `echo:x:${a.id}`)
  })

  it('10,000 sequential acknowledged sends lose nothing and keep order', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    const seen: number[] = []
    b.messaging.registerHandler('t.seq', (m) => { seen.push(new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0)) })
    const N = 10_000
    for (let i = 0; i < N; i++) {
      const p = new Uint8Array(4)
      new DataView(p.buffer).setUint32(0, i)
      await a.messaging.sendMessage(b.id, 't.seq', p)
    }
    assert.equal(seen.length, N)
    for (let i = 0; i < N; i++) assert.equal(seen[i], i)
    // one long-lived stream carried all of them
    assert.equal(a.messaging.stats().outboundStreams, 1)
  })

  it('enforces the handler registry on a live node', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    b.messaging.registerHandler('t.reg', () => {})
    assert.throws(() => { b.messaging.registerHandler('t.reg', () => {}) }, { name: 'DuplicateHandlerError' })
    await a.messaging.sendMessage(b.id, 't.reg', enc('1'))
    assert.equal(b.messaging.unregisterHandler('t.reg'), true)
    await assert.rejects(a.messaging.sendMessage(b.id, 't.reg', enc('2')), { name: 'NoHandlerError' })
    b.messaging.registerHandler('t.reg', () => { throw new Error('nope') })
    await assert.rejects(a.messaging.sendMessage(b.id, 't.reg', enc('3')), (err: Error & { reason?: string }) => err.name === 'MessageRejectedError' && err.reason === 'handler-error')
  })

  it('refuses to send a payload over maxMessageSize', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    const big = new Uint8Array(a.messaging.config.maxMessageSize + 1)
    await assert.rejects(a.messaging.sendMessage(b.id, 't.hello', big), { name: 'MessageTooLargeError' })
  })

  it('a send to self is dispatched locally', async () => {
    const [a] = nodes as [MsgNode]
    a.messaging.registerHandler('t.self', (m) => enc(`self:${m.from}`))
    assert.equal(dec(await a.messaging.request(a.id, 't.self', enc(''))), `self:${a.id}`)
    await assert.rejects(a.messaging.sendMessage(a.id, 't.nobody', enc('')), { name: 'NoHandlerError' })
  })

  it('fire-and-forget failures surface as message:send-failed events', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    const failed = new Promise<{ peer: string, type: string, error: Error }>(resolve => {
      a.messaging.addEventListener('message:send-failed', (e) => { resolve(e.detail) }, { once: true })
    })
    a.messaging.send(b.id, 't.missing', enc('x'))
    const d = await failed
    assert.equal(d.peer, b.id)
    assert.equal(d.type, 't.missing')
    assert.equal(d.error.name, 'NoHandlerError')
  })

  it('times out with TimeoutError and honours an abort signal', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    b.messaging.registerHandler('t.hang', async () => { await gate })
    await assert.rejects(a.messaging.sendMessage(b.id, 't.hang', enc(''), { timeoutMs: 200 }), { name: 'TimeoutError' })
    const ac = new AbortController()
    const p = a.messaging.sendMessage(b.id, 't.hang', enc(''), { signal: ac.signal })
    ac.abort()
    await assert.rejects(p, { name: 'AbortedError' })
    release()
  })

  it('bounds messages in flight and still delivers every concurrent send', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    let concurrent = 0
    let maxSeen = 0
    b.messaging.registerHandler('t.par', async () => {
      concurrent++
      maxSeen = Math.max(maxSeen, concurrent)
      await pause(2) // not a wait: the handler does 2 ms of "work" so that sends overlap
      concurrent--
    })
    const N = 2000
    await Promise.all(Array.from({ length: N }, async (_, i) => { await a.messaging.sendMessage(b.id, 't.par', enc(String(i))) }))
    assert.ok(maxSeen <= a.messaging.config.maxInFlight, `max in flight ${maxSeen}`)
    assert.ok(maxSeen > 1, 'sends overlapped')
    assert.equal(a.messaging.stats().inFlight, 0)
  })

  it('a broken connection fails in-flight sends with StreamClosedError; a retry re-dials', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    let entered!: () => void
    const inHandler = new Promise<void>(resolve => { entered = resolve })
    b.messaging.registerHandler('t.break', async () => { entered(); await gate })
    const p = a.messaging.sendMessage(b.id, 't.break', enc(''), { timeoutMs: 60_000 })
    // the message is on the wire and held by B's handler, unacknowledged: now break the connection
    await inHandler
    await a.node.net.hangUp(b.id)
    await assert.rejects(p, { name: 'StreamClosedError' })
    release()
    await a.node.net.dial(b.addr)
    b.messaging.registerHandler('t.after', () => {})
    await a.messaging.sendMessage(b.id, 't.after', enc(''))
  })

  it('survives host:changed: streams are re-created on the new host', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    b.messaging.registerHandler('t.swap', (m) => enc(`swap:${dec(m.payload)}`))
    assert.equal(dec(await a.messaging.request(b.id, 't.swap', enc('1'))), 'swap:1')
    await a.node.net.switchProfile({ ...publicProfile(a.node.config.network), name: 'public-2' })
    await a.node.net.dial(b.addr)
    assert.equal(dec(await a.messaging.request(b.id, 't.swap', enc('2'))), 'swap:2')
    // and the other direction reaches the node on its new host
    a.messaging.registerHandler('t.back', () => enc('back'))
    assert.equal(dec(await b.messaging.request(a.id, 't.back', enc(''))), 'back')
  })

  it('re-attaches gossip subscriptions on host:changed', async () => {
    const [a, b] = nodes as [MsgNode, MsgNode]
    const got: string[] = []
    a.messaging.subscribe('/t/swap', (m) => { got.push(dec(m.payload)) })
    await a.node.net.switchProfile({ ...publicProfile(a.node.config.network), name: 'public-3' })
    await a.node.net.dial(b.addr)
    await waitFor(() => b.node.net.host.services.pubsub.getSubscribers('/t/swap').some(p => p.toString() === a.id), 10_000, 'subscription seen on the new host')
    await b.messaging.publish('/t/swap', 'note', enc('after-swap'))
    await waitFor(() => got.includes('after-swap'), 10_000, 'delivery after swap')
  })
})

/**
 * Direct messages between real nodes over loopback TCP: delivery, acknowledgement,
 * request/response, ordering under load, handler registry rules, send to self.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
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
})

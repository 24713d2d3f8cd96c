/**
 * Multistream-select without waiting for the answer (src/network/lazy-select.ts), on real libp2p
 * nodes over TCP: the stream is handed over before the listener's echo arrived, the echo is taken
 * off before the reader sees a byte, a protocol the peer does not speak fails the stream with
 * `UnsupportedProtocolError`, and a dmsnet node's DHT lookups go through a stock js-libp2p kad-dht
 * server with their proposals sent ahead.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { lazySelect, lazySelectStats, lazySelectWanted, proposal } from '../../src/network/lazy-select.js'
import { ECHO, echo, roundTrip, startNode, startStockPeer, waitFor, type TestNode } from './helpers.js'
import type { Stream } from '@libp2p/interface'

const UNSPOKEN = '/dmsnet-test/nobody-speaks-this/1'

/**
 * Sends `text`, reads until it came back, then closes: a request/response in the order kad-dht
 * keeps (a half-close sent with the proposal fails at a js-libp2p 3 listener, see lazy-select.ts).
 */
async function ask (stream: Stream, text: string): Promise<string> {
  stream.send(new TextEncoder().encode(text))
  let back = ''
  for await (const chunk of stream) {
    back += new TextDecoder().decode(chunk.subarray())
    if (back.length >= text.length) break
  }
  await stream.close()
  return back
}

/** A plain libp2p node whose outbound ECHO and UNSPOKEN streams use lazy select. */
async function lazyNode (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [lazySelect(yamux(), p => p === ECHO || p === UNSPOKEN)]
  })
}

describe('lazy multistream-select', () => {
  let lazy: Libp2p
  let stock: Libp2p
  before(async () => {
    lazy = await lazyNode()
    stock = await startStockPeer()
    await lazy.dial(stock.getMultiaddrs()[0]!)
    await waitFor(() => stock.getConnections(lazy.peerId).length > 0, 10_000, 'the stock peer has the connection')
  })
  after(async () => { await Promise.all([lazy?.stop(), stock?.stop()]) })

  it('the proposal is the bytes a listener echoes: "/multistream/1.0.0\\n" and the protocol, length-prefixed', () => {
    const p = proposal('/x/1')
    assert.deepEqual([...p], [19, ...Buffer.from('/multistream/1.0.0\n'), 5, ...Buffer.from('/x/1\n')])
    // a protocol name of 128 bytes or more takes a two-byte varint
    const long = '/' + 'a'.repeat(130)
    const q = proposal(long)
    assert.deepEqual([...q.subarray(20, 22)], [(long.length + 1) & 0x7f | 0x80, (long.length + 1) >> 7])
  })

  it('hands the stream over before the listener answered; the reader never sees the echo', async () => {
    // the stock peer stops reading its end of the connection: it cannot echo anything until resumed
    const conn = stock.getConnections(lazy.peerId)[0]!
    const socket = (conn as unknown as { maConn: { socket: { pause: () => void, resume: () => void } } }).maConn.socket
    const p0 = { ...lazySelectStats }
    socket.pause()
    let stream
    try {
      // a full negotiation would wait here for the echo that cannot come
      stream = await Promise.race([
        lazy.dialProtocol(stock.peerId, ECHO),
        new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new Error('dialProtocol waited for the listener')) }, 10_000))
      ])
      assert.equal(lazySelectStats.proposed, p0.proposed + 1, 'the proposal went ahead')
      assert.equal(lazySelectStats.confirmed, p0.confirmed, 'nothing came back yet')
      assert.equal(stream.protocol, ECHO)
    } finally {
      socket.resume()
    }
    assert.equal(await ask(stream, 'hello over a lazy stream'), 'hello over a lazy stream')
    assert.equal(lazySelectStats.confirmed, p0.confirmed + 1, 'then the echo came back and was taken off')
    // many in a row, on the same connection
    for (let i = 0; i < 10; i++) assert.equal(await ask(await lazy.dialProtocol(stock.peerId, ECHO), `n${i}`), `n${i}`)
    assert.equal(lazySelectStats.refused, p0.refused)
  })

  it('a protocol the peer does not speak fails the stream with UnsupportedProtocolError', async () => {
    const refused = lazySelectStats.refused
    const stream = await lazy.dialProtocol(stock.peerId, UNSPOKEN)
    await assert.rejects(ask(stream, 'anyone?'), (err: Error) => {
      assert.equal(err.name, 'UnsupportedProtocolError', `${err.name}: ${err.message}`)
      return true
    })
    assert.equal(lazySelectStats.refused, refused + 1)
    // the connection itself is fine
    assert.equal(await ask(await lazy.dialProtocol(stock.peerId, ECHO), 'still here'), 'still here')
  })

  it('a stock node dialling the lazy node negotiates in full, as before', async () => {
    await lazy.handle(ECHO, echo)
    const proposed = lazySelectStats.proposed
    assert.equal(await roundTrip(await stock.dialProtocol(lazy.peerId, ECHO), 'inbound'), 'inbound')
    assert.equal(lazySelectStats.proposed, proposed, 'inbound streams are not touched')
  })

  it('DMSNET_LAZY_SELECT=0 (or off, false) turns it off; anything else leaves it on', () => {
    for (const v of ['0', 'off', 'false']) assert.equal(lazySelectWanted(v), false, v)
    for (const v of [undefined, '', '1', 'on']) assert.equal(lazySelectWanted(v), true, String(v))
  })
})

describe('lazy select on the DHT of dmsnet nodes', () => {
  const nodes: TestNode[] = []
  let stockDht: Libp2p | undefined
  after(async () => {
    await stockDht?.stop()
    for (const n of nodes) await n.stop().catch(() => {})
  })

  it('a lookup through a stock js-libp2p kad-dht server finds the target, its queries proposed ahead', async () => {
    stockDht = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({ protocol: '/dmsnet/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper })
      }
    })
    const a = await startNode({ 'network.connectionManager.minConnections': 0 })
    const c = await startNode({ 'network.connectionManager.minConnections': 0 })
    nodes.push(a, c)
    const tableSize = (l: Libp2p): number => (l.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
    // A and C each know only the stock server
    await c.net.dial(stockDht.getMultiaddrs()[0]!)
    await waitFor(() => tableSize(stockDht!) >= 1, 20_000, 'the stock server holds C')
    await a.net.dial(stockDht.getMultiaddrs()[0]!)
    await waitFor(() => tableSize(stockDht!) >= 2, 20_000, 'the stock server holds A')
    assert.equal(a.net.host.getConnections(c.net.peerId).length, 0, 'A is not connected to C')

    const p0 = { ...lazySelectStats }
    let found: string | undefined
    for await (const ev of a.net.dht.findPeer(c.net.peerId, { useCache: false, signal: AbortSignal.timeout(20_000) })) {
      if (ev.name === 'FINAL_PEER') { found = ev.peer.id.toString(); break }
    }
    assert.equal(found, c.net.peerId.toString(), 'C found')
    assert.ok(lazySelectStats.proposed > p0.proposed, 'the DHT queries were proposed ahead')
    assert.ok(lazySelectStats.confirmed > p0.confirmed, 'and the stock listener echoed them')
    assert.equal(lazySelectStats.refused, p0.refused)
  })
})

/**
 * Connection liveness by muxer pings (src/network/connection-pings.ts) on real js-libp2p nodes over
 * loopback TCP: every connection is checked with a yamux ping frame, with no ping stream (libp2p's
 * connection monitor opened one per check at both ends, with a peer-store write at each: this
 * fails while that monitor runs), and a connection whose peer stops answering is aborted.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startNode, type TestNode } from './helpers.js'
import { waitFor } from '../helpers/wait.js'
import type { Connection, Stream } from '@libp2p/interface'
import type { ConnectionPings } from '../../src/network/connection-pings.js'

const PING = '/ipfs/ping/1.0.0'
/** The yamux header flag of a ping request (an answer has ACK). */
const YAMUX_SYN = 1

const fast = {
  'network.connectionMonitor.pingIntervalMs': 100,
  'network.connectionMonitor.pingTimeoutMs': 1500,
  // only the test makes connections
  'network.connectionManager.minConnections': 0
}

const pingsOf = (n: TestNode): ConnectionPings => n.net.host.services.connectionPings ?? assert.fail('the host has no connectionPings service')
const connTo = (from: TestNode, to: TestNode): Connection => from.net.host.getConnections(to.net.peerId)[0] ?? assert.fail('not connected')

/** Streams the remote opens on `conn` (their protocol is known once negotiated). */
function inboundStreams (conn: Connection): Stream[] {
  const muxer = (conn as unknown as { muxer?: EventTarget }).muxer ?? assert.fail('the connection has no muxer')
  const seen: Stream[] = []
  muxer.addEventListener('stream', (e) => { seen.push((e as CustomEvent<Stream>).detail) })
  return seen
}

describe('network: connection pings', () => {
  let a: TestNode | undefined
  let b: TestNode | undefined
  before(async () => {
    a = await startNode(fast)
    b = await startNode(fast)
    await a.net.dial(b.net.host.getMultiaddrs()[0]!)
    await waitFor(() => b!.net.host.getConnections(a!.net.peerId).length > 0, 10_000, 'b to see the connection')
  })
  after(async () => { await Promise.all([a, b].map(async n => { await n?.stop() })) })

  it('checks every connection with a muxer ping and opens no ping stream for it', { timeout: 30_000 }, async () => {
    // kad-dht pings a new contact (on a stream) before it enters the routing table: let it finish
    const tableSize = (n: TestNode): number => (n.net.host.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
    await waitFor(() => tableSize(a!) > 0 && tableSize(b!) > 0, 15_000, 'each node in the other\'s routing table')
    const atB = inboundStreams(connTo(b!, a!))
    const atA = inboundStreams(connTo(a!, b!))
    const start = pingsOf(a!).stats.pings
    // 20 intervals of both ends' checks
    await waitFor(() => pingsOf(a!).stats.pings >= start + 20 && pingsOf(b!).stats.pings >= 20, 20_000, '20 pings from each end')
    assert.equal(pingsOf(a!).stats.streamPings, 0, 'yamux connections are pinged through their muxer')
    assert.equal(pingsOf(a!).stats.aborted, 0)
    assert.equal(typeof connTo(a!, b!).rtt, 'number', 'the check measures the round trip (connection.rtt)')
    const pingStreams = (s: Stream[]): number => s.filter(x => x.protocol === PING).length
    assert.equal(pingStreams(atA) + pingStreams(atB), 0, `ping streams were opened: ${[...atA, ...atB].map(s => s.protocol).join(', ')}`)
    // positive control: a ping stream (a user's ping) is seen by the counter above
    await a!.net.host.services.ping.ping(b!.net.peerId)
    await waitFor(() => pingStreams(atB) === 1, 5000, 'the user ping stream at b')
  })

  it('aborts a connection whose peer stops answering pings', { timeout: 30_000 }, async () => {
    const conn = connTo(a!, b!)
    const aborted = pingsOf(a!).stats.aborted
    const pings = pingsOf(a!).stats.pings
    // positive control: while b answers, the connection lives through many checks
    await waitFor(() => pingsOf(a!).stats.pings >= pings + 10, 10_000, '10 answered pings')
    assert.equal(conn.status, 'open')
    // b's muxer stops answering a's ping frames (as a hung peer would), while it still takes
    // a's answers to its own pings (else b would close the connection first)
    const muxer = (connTo(b!, a!) as unknown as { muxer: { handlePing: (h: { flag: number }) => void } }).muxer
    const handle = muxer.handlePing.bind(muxer)
    muxer.handlePing = (h) => { if (h.flag !== YAMUX_SYN) handle(h) }
    await waitFor(() => conn.status !== 'open', 10_000, 'a to close the silent connection')
    assert.ok(pingsOf(a!).stats.aborted > aborted, 'closed by the ping check')
  })
})

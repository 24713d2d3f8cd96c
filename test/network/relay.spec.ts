/**
 * Circuit relay v2 over loopback (relay server, a client that reserves a slot, a third node that
 * dials through the relay), listen(), and re-finding a peer whose stored address went stale.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DialError } from '../../src/errors.js'
import { ECHO, echo, roundTrip, startNode, tempDir, waitFor } from './helpers.js'

/** How a stream the remote refuses ends on our side (reset or closed before the echo); not a timeout. */
const STREAM_REFUSED = new Set(['StreamStateError', 'StreamResetError', 'StreamAbortedError', 'UnexpectedEOFError'])

describe('circuit relay', () => {
  it('a peer reachable only through a relay: limited connection, transport circuit-relay, opt-in handlers', async () => {
    const relay = await startNode({ 'network.relay.server': true })
    const relayAddr = relay.net.host.getMultiaddrs()[0]!.toString()
    const b = await startNode({ 'network.relay.client': true, 'network.bootstrap': [relayAddr] })
    const c = await startNode({ 'network.relay.client': true })
    try {
      await b.net.dial(relayAddr)
      const addrEvent = new Promise<string[]>(resolve => {
        const off = b.net.eventRegister('local-addresses:updated', ({ addresses }) => {
          if (addresses.some(a => a.includes('/p2p-circuit'))) { off(); resolve(addresses) }
        })
      })
      await waitFor(() => b.net.host.getMultiaddrs().some(m => m.toString().includes('/p2p-circuit')), 15_000, 'relay reservation')
      const circuit = b.net.host.getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit'))!
      assert.ok(circuit.startsWith(relayAddr), circuit)
      assert.ok((await addrEvent).some(a => a === circuit), 'local-addresses:updated announced the relay address')

      await b.net.handle(ECHO, echo, { runOnLimitedConnection: true })
      await b.net.handle('/dmsnet-test/direct-only/1', echo)
      const conn = await c.net.dial(circuit)
      assert.equal(conn.remotePeer.toString(), b.net.peerId.toString())
      const info = (await c.net.status()).connections.find(x => x.peerId === b.net.peerId.toString())!
      assert.equal(info.transport, 'circuit-relay')
      assert.equal(info.limited, true)
      assert.equal(await roundTrip(await c.net.dialProtocol(circuit, ECHO, { runOnLimitedConnection: true }), 'relayed'), 'relayed')
      // a handler that did not opt in is not reachable over the limited connection
      // (the remote accepts the protocol id, then resets the stream: no echo ever comes back)
      await assert.rejects(async () => {
        const s = await c.net.dialProtocol(circuit, '/dmsnet-test/direct-only/1', { runOnLimitedConnection: true })
        if (await roundTrip(s, 'x') !== 'x') throw new Error('no echo')
      }, (e: Error) => STREAM_REFUSED.has(e.name))
      // and our side refuses to open a stream on a limited connection unless asked to
      await assert.rejects(c.net.dialProtocol(circuit, ECHO), DialError)
    } finally {
      await Promise.all([relay.stop(), b.stop(), c.stop()])
    }
  })
})

describe('addresses', () => {
  it('listen() adds a listen address on the running host', async () => {
    const a = await startNode()
    const b = await startNode()
    try {
      const before = a.net.host.getMultiaddrs().length
      const all = await a.net.listen(['/ip4/127.0.0.1/tcp/0/ws'])
      assert.equal(all.length, before + 1)
      const ws = all.find(x => x.includes('/ws/'))!
      assert.ok(ws != null, all.join())
      assert.ok((await a.net.status()).listenAddrs.some(x => x.endsWith('/ws')))
      await b.net.dial(ws)
      assert.equal((await b.net.status()).connections[0]?.transport, 'websockets')
      await assert.rejects(a.net.listen(['garbage']), (e: Error) => e.name === 'InvalidArgumentError')
      // a port someone else holds: a typed error, the host keeps running
      const taken = b.net.host.getMultiaddrs()[0]!.decapsulateCode(421).toString()
      await assert.rejects(a.net.listen([taken]), (e: Error) => e.name === 'SystemError')
      assert.equal(a.net.started, true)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('a peer that restarted on a new port is found again through the DHT (stale peer store)', async () => {
    const boot = await startNode()
    const bootAddr = boot.net.host.getMultiaddrs()[0]!.toString()
    const t = tempDir()
    let b = await startNode({ 'network.bootstrap': [bootAddr] }, {}, t.dir)
    const c = await startNode({ 'network.bootstrap': [bootAddr] })
    try {
      const bId = b.net.peerId.toString()
      await c.net.dial(b.net.host.getMultiaddrs()[0]!)
      const oldAddr = b.net.host.getMultiaddrs()[0]!.toString()
      await b.net.stop()
      b = await startNode({ 'network.bootstrap': [bootAddr] }, {}, t.dir)
      assert.equal(b.net.peerId.toString(), bId)
      assert.notEqual(b.net.host.getMultiaddrs()[0]!.toString(), oldAddr)
      await waitFor(() => !c.net.isConnected(bId), 5000, 'old connection gone')
      // B must be known to the bootstrap node's DHT again before C can find it
      await waitFor(() => boot.net.isConnected(bId), 15_000, 'B reconnected to bootstrap')
      let conn
      await waitFor(async () => {
        try {
          conn = await c.net.dial(bId, { signal: AbortSignal.timeout(4000) })
          return true
        } catch {
          return false
        }
      }, 20_000, 'dial B by id after restart')
      assert.equal(conn!.remotePeer.toString(), bId)
      assert.ok(c.net.isConnected(bId))
    } finally {
      await Promise.all([boot.stop(), b.stop(), c.stop()])
      t.cleanup()
    }
  })
})

/**
 * A node whose bootstrap peer was unreachable when it started joins once the peer is back
 * (real js-libp2p nodes over loopback TCP): `@libp2p/bootstrap` dials only once, so without the
 * re-dial (src/network/bootstrap-redial.ts) the node stays alone for good. Plus the loop's logic:
 * no dial while connected, backoff while failing, nothing after stop.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startBootstrapRedial } from '../../src/network/bootstrap-redial.js'
import { startNode, tempDir, waitFor } from './helpers.js'
import { pause } from '../helpers/wait.js'

describe('network: bootstrap re-dial', () => {
  it('a node that started while its bootstrap peer was down connects once the peer is back', async () => {
    const dirA = tempDir()
    let a = await startNode({}, {}, dirA.dir)
    const addr = a.net.host.getMultiaddrs()[0]!.toString()
    const port = Number(addr.split('/')[4])
    await a.stop()
    const b = await startNode({ 'network.bootstrap': [addr], 'network.bootstrapRedialMs': 300 })
    try {
      // the one dial @libp2p/bootstrap makes at start is refused (nobody listens on the port)
      await waitFor(() => b.net.host.getConnections().length === 0, 2000, 'B alone')
      await pause(500) // a period in which B must stay alone: A is down (its coming back below is the positive control)
      assert.equal(b.net.peers().length, 0, 'B cannot have reached A: A is down')
      a = await startNode({ 'network.listen': [`/ip4/127.0.0.1/tcp/${port}`] }, {}, dirA.dir)
      await waitFor(() => b.net.isConnected(a.net.peerId), 15_000, 'B re-dials its bootstrap peer A')
    } finally {
      await Promise.all([a.stop(), b.stop()])
      dirA.cleanup()
    }
  })

  it('dials only while there is no connection, backs off while it fails, and stops', async () => {
    let conns = 0
    const dials: number[] = []
    const host = {
      getConnections: () => new Array(conns),
      dial: async () => { dials.push(Date.now()); throw Object.assign(new Error('refused'), { name: 'DialError' }) }
    }
    const errors: string[] = []
    const addr = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
    const stop = startBootstrapRedial(host as never, [addr], { intervalMs: 50, maxIntervalMs: 400, dialTimeoutMs: 100, onDialError: (_a, e) => { errors.push(e.name) } })
    try {
      await waitFor(() => dials.length >= 4, 5000, 'four dials')
      // waits of 50, 100, 200, 400 ms: the gaps grow
      const gaps = dials.slice(1).map((t, i) => t - dials[i]!)
      assert.ok(gaps[2]! > gaps[0]!, `backoff: gaps ${gaps.join(', ')}`)
      assert.ok(errors.every(e => e === 'DialError') && errors.length >= 4)
      conns = 1
      const before = dials.length
      await pause(600) // a period in which no dial may happen (the dials above show they would be seen)
      assert.ok(dials.length <= before + 1, 'no dial while connected (one may have been under way)')
    } finally {
      stop()
    }
    conns = 0
    const after = dials.length
    await pause(300) // a period in which nothing may happen after stop
    assert.equal(dials.length, after, 'nothing after stop')
    assert.equal(typeof startBootstrapRedial(host as never, [], { intervalMs: 1, maxIntervalMs: 1, dialTimeoutMs: 1 }), 'function', 'an empty list is a no-op')
  })
})

/**
 * No `debug` loggers made per stream while no DEBUG namespace is on (src/network/quiet-logger.ts,
 * issue 10). libp2p makes two `debug` instances per scoped logger, and scoped loggers per
 * connection, stream and protocol negotiation; each instance picks a colour for its name
 * (`selectColor`), which this test counts. On real nodes over loopback TCP, 20 pings from a to b
 * make none with DEBUG unset; the control, in the same test: the same pings between nodes built
 * with DEBUG set (to a namespace that enables nothing, so nothing is printed) make dozens.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import debug from 'weald'
import { startNode } from './helpers.js'
import { debugRequested } from '../../src/network/quiet-logger.js'

const flags = { 'network.connectionManager.minConnections': 0 }

/** `debug` instances made while two fresh nodes exchange `n` pings over one connection. */
async function debugInstancesPerPings (n: number, count: () => number): Promise<number> {
  const a = await startNode(flags)
  const b = await startNode(flags)
  try {
    await a.net.dial(b.net.host.getMultiaddrs()[0]!)
    await a.net.host.services.ping.ping(b.net.host.peerId) // connection, identify: not counted
    const before = count()
    for (let i = 0; i < n; i++) {
      const rtt = await a.net.host.services.ping.ping(b.net.host.peerId)
      assert.ok(Number.isFinite(rtt), 'the ping was answered')
    }
    return count() - before
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
}

describe('network: quiet libp2p logger', () => {
  it('makes no debug instance per stream while DEBUG is unset; with DEBUG set libp2p makes them (control)', { timeout: 60_000 }, async () => {
    const weald = debug as unknown as { selectColor: (ns: string) => string | number }
    const select = weald.selectColor
    let made = 0
    weald.selectColor = (ns) => { made++; return select(ns) }
    const saved = process.env.DEBUG
    try {
      delete process.env.DEBUG
      assert.equal(debugRequested(), false)
      const quiet = await debugInstancesPerPings(20, () => made)
      // weald read DEBUG when it loaded: a namespace set now enables nothing, and matches nothing
      process.env.DEBUG = 'dmsnet-test-no-such-namespace'
      assert.equal(debugRequested(), true)
      const loud = await debugInstancesPerPings(20, () => made)
      assert.ok(loud >= 40, `control: libp2p's own logger made ${loud} debug instances for 20 ping streams`)
      assert.equal(quiet, 0, `${quiet} debug instances for 20 ping streams with DEBUG unset`)
    } finally {
      weald.selectColor = select
      if (saved == null) delete process.env.DEBUG
      else process.env.DEBUG = saved
    }
  })
})

/**
 * libp2p metrics that follow the current host (src/network/host-metrics.ts): two real nodes over
 * loopback TCP, each with its own registry in the same process, and a host switch on one of them.
 * With `@libp2p/prometheus-metrics` (its process-wide metric map) the byte counters and the
 * connection gauges froze on the first host after the switch, and the second node's registry had
 * no libp2p metrics at all.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { hostMetrics } from '../../src/network/host-metrics.js'
import { ECHO, echo, roundTrip, startNode, waitFor, type TestNode } from './helpers.js'

/** Sum of one metric's samples whose labels pass `pred`. */
async function sample (registry: Registry, name: string, pred: (labels: Record<string, string | number>) => boolean = () => true): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get()
  if (m == null) return Number.NaN
  return m.values.filter(v => pred(v.labels as Record<string, string | number>)).reduce((a, v) => a + v.value, 0)
}

const bytesSent = async (r: Registry): Promise<number> => await sample(r, 'libp2p_data_transfer_bytes_total', l => l.protocol === 'global sent')
const connections = async (r: Registry): Promise<number> => await sample(r, 'libp2p_connection_manager_connections', l => l.libp2p_connection_manager_connections === 'inbound' || l.libp2p_connection_manager_connections === 'outbound')

describe('libp2p metrics across a host switch', { timeout: 60_000 }, () => {
  it('byte counters and connection gauges keep following the current host; each node has its own', async () => {
    const regA = new Registry()
    const regB = new Registry()
    const metricsA = hostMetrics({ registry: regA })
    const nodes: TestNode[] = []
    try {
      const a = await startNode({}, { libp2p: { metrics: metricsA } })
      nodes.push(a)
      const b = await startNode({}, { libp2p: { metrics: hostMetrics({ registry: regB }) } })
      nodes.push(b)
      await b.net.handle(ECHO, (s) => { void echo(s) })
      const bAddr = b.net.getMultiaddrs()[0]!
      const send = async (n: number): Promise<void> => {
        const s = await a.net.dialProtocol(bAddr, ECHO)
        assert.equal((await roundTrip(s, 'x'.repeat(n))).length, n)
      }
      await send(10_000)
      const before = await bytesSent(regA)
      assert.ok(before >= 10_000, `node A counted ${before} bytes sent`)
      assert.equal(await connections(regA), 1)
      // the second node in this process has libp2p's metrics in its own registry
      assert.ok(await bytesSent(regB) > 0, 'node B has its own byte counter')
      const streamsHelp = await regB.getSingleMetric('libp2p_connection_manager_connections')?.get()
      assert.ok(streamsHelp != null, 'node B has its own connection gauge')

      // a host switch: the first host stops, a new one starts with new components
      await a.net.switchProfile({ name: 'public', dhtProtocolPrefix: '/dmsnet', bootstrap: [] })
      await waitFor(async () => await connections(regA) === 0, 10_000, 'the gauge to show the new host without connections')
      const mid = await bytesSent(regA)
      await send(20_000)
      const after = await bytesSent(regA)
      assert.ok(after - mid >= 20_000, `bytes sent after the switch: ${after - mid} counted, 20000 sent`)
      assert.equal(await connections(regA), 1, 'the connection of the new host is counted')
      // the yamux window group is registered by every host generation and read from the latest
      assert.ok((await regA.getSingleMetric('dmsnet_yamux_window')?.get()) != null)
    } finally {
      for (const n of nodes.reverse()) await n.stop().catch(() => {})
    }
  })
})

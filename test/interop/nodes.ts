/**
 * dmsnet nodes for the interop suite: a real network (loopback TCP) with messaging and its own
 * prom-client registry, wired into libp2p's metrics as the daemon does (src/daemon/node.ts).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Registry } from 'prom-client'
import { createMessaging, type Messaging } from '../../src/messaging/index.js'
import { hostMetrics } from '../../src/network/host-metrics.js'
import { startNode, type TestNode } from '../network/helpers.js'

export interface InteropNode {
  node: TestNode
  messaging: Messaging
  registry: Registry
  id: string
  addr: string
  stop(): Promise<void>
}

export async function startInteropNode (): Promise<InteropNode> {
  const privateKey = await generateKeyPair('Ed25519')
  const registry = new Registry()
  const node = await startNode({}, {
    privateKey,
    libp2p: { metrics: hostMetrics({ registry }) }
  })
  const messaging = createMessaging({ network: node.net, privateKey, metrics: registry })
  await messaging.start()
  return {
    node,
    messaging,
    registry,
    id: node.net.peerId.toString(),
    addr: node.net.host.getMultiaddrs()[0]!.toString(),
    stop: async () => {
      await messaging.stop().catch(() => {})
      await node.stop().catch(() => {})
    }
  }
}

/** Sum of a counter's values whose labels pass `pred` (0 when the metric does not exist yet). */
export async function metricSum (n: InteropNode, name: string, pred: (labels: Record<string, string | number>) => boolean = () => true): Promise<number> {
  const m = await n.registry.getSingleMetric(name)?.get()
  return (m?.values ?? []).filter(v => pred(v.labels as Record<string, string | number>)).reduce((a, v) => a + v.value, 0)
}

export const dropped = async (n: InteropNode, reason: string): Promise<number> => metricSum(n, 'dmsnet_messages_dropped_total', l => l.reason === reason)

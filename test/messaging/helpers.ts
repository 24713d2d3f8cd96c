/**
 * Test helpers for messaging: real dmsnet nodes (createNetwork over loopback TCP) each with a
 * messaging instance, connected as a full mesh.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { Registry } from 'prom-client'
import { createMessaging, type Messaging } from '../../src/messaging/index.js'
import { advertDhtRecords } from '../../src/messaging/dht-records.js'
import type { MessagingConfig } from '../../src/messaging/types.js'
import { startNode, type TestNode } from '../network/helpers.js'

export interface MsgNode {
  node: TestNode
  messaging: Messaging
  privateKey: PrivateKey
  registry: Registry
  id: string
  addr: string
}

export async function startMsgNode (config: Partial<MessagingConfig> = {}): Promise<MsgNode> {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await startNode({}, { privateKey, dht: advertDhtRecords() })
  const registry = new Registry()
  const messaging = createMessaging({ network: node.net, privateKey, config, metrics: registry })
  await messaging.start()
  const addr = node.net.host.getMultiaddrs()[0]!.toString()
  return { node, messaging, privateKey, registry, id: node.net.peerId.toString(), addr }
}

export async function startMesh (n: number, config: Partial<MessagingConfig> = {}): Promise<MsgNode[]> {
  const nodes: MsgNode[] = []
  for (let i = 0; i < n; i++) nodes.push(await startMsgNode(config))
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) await nodes[i]!.node.net.dial(nodes[j]!.addr)
  }
  return nodes
}

export async function stopAll (nodes: MsgNode[]): Promise<void> {
  for (const n of nodes) {
    await n.messaging.stop().catch(() => {})
    await n.node.stop().catch(() => {})
  }
}

export async function dropCount (n: MsgNode, reason: string): Promise<number> {
  const m = await n.registry.getSingleMetric('dmsnet_messages_dropped_total')?.get()
  return m?.values.find(v => v.labels.reason === reason)?.value ?? 0
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

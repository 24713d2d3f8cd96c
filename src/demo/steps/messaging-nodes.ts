/**
 * What the messaging-based demo steps (messaging, jobs) share: the demo nodes that run the
 * messaging module, and a bounded wait for gossip to settle (subscriptions take a heartbeat or
 * two to propagate, and the demo must not hang on a slow machine).
 */
import type { Messaging } from '../../messaging/index.js'
import type { DemoNode } from '../cluster.js'

export interface MessagingNode {
  n: DemoNode
  m: Messaging
}

export function messagingNodes (nodes: DemoNode[]): MessagingNode[] {
  return nodes
    .map(n => ({ n, m: n.node.module<{ name: string, messaging: Messaging }>('messaging')?.messaging }))
    .filter((x): x is MessagingNode => x.m != null)
}

/** Polls `cond` every 100 ms for at most `ms`; returns its last value. */
export async function until (cond: () => boolean, ms: number, signal: AbortSignal): Promise<boolean> {
  for (let waited = 0; waited < ms && !cond(); waited += 100) {
    signal.throwIfAborted()
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return cond()
}

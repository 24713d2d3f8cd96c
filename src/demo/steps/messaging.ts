/**
 * Step 2: signed messaging between the demo nodes, when the messaging module runs: every node
 * subscribes to a gossip topic and n1 publishes on it, then n1 sends a request to the last node's
 * built-in echo handler (request/response on a reused stream).
 */
import { ECHO_TYPE } from '../../daemon/features/messaging.js'
import { messagingNodes, until } from './messaging-nodes.js'
import type { DemoStep } from './types.js'

const TOPIC = 'dmsnet-demo/chat'

export const messaging: DemoStep = {
  title: `messaging: gossip on "${TOPIC}", then a request/response`,
  async run ({ nodes, print, signal }) {
    const withMessaging = messagingNodes(nodes)
    if (withMessaging.length < 2) {
      print.line('demo', 'messaging module not enabled: step skipped')
      return
    }
    const [first, ...others] = withMessaging
    const received = new Set<string>()
    const subs = withMessaging.map(({ n, m }) => m.subscribe(TOPIC, msg => {
      received.add(n.name)
      print.line(n.name, `gossip from ${print.peer(msg.from)}: "${new TextDecoder().decode(msg.payload)}" (signature checked)`)
    }))
    try {
      // wait until gossipsub has told n1 about the others' subscriptions (bounded)
      await until(() => others.every(o => first!.m.pubsub.peersOf(TOPIC).includes(o.n.node.peerId)), 10_000, signal)
      const r = await first!.m.publish(TOPIC, 'chat', new TextEncoder().encode(`hello from ${first!.n.name}`), { signal })
      print.line(first!.n.name, `published on ${TOPIC} to ${r.recipients} peer(s)`)
      await until(() => others.every(o => received.has(o.n.name)), 5000, signal)

      const target = others[others.length - 1]!
      const t0 = performance.now()
      const reply = await first!.m.request(target.n.node.peerId, ECHO_TYPE, new TextEncoder().encode('are you there?'), { signal })
      print.line(first!.n.name, `request -> ${target.n.name} answered "${new TextDecoder().decode(reply)}" in ${(performance.now() - t0).toFixed(1)} ms`)
    } finally {
      for (const s of subs) s.unsubscribe()
    }
  }
}

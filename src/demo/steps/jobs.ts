/**
 * Step: job publishing. Every node but n1 serves bids with a small bidder of its own (a price
 * that depends on the node, and no bid for jobs asking more cores than it "has"); n1 publishes a
 * bid request on the jobs topic and prints the signed bids as they come back, then the list.
 */
import { DEFAULT_MESSAGING_CONFIG } from '../../messaging/types.js'
import { messagingNodes, until } from './messaging-nodes.js'
import type { DemoStep } from './types.js'

export const jobs: DemoStep = {
  title: 'jobs: n1 publishes a bid request, the others bid',
  async run ({ nodes, print, signal }) {
    const withMessaging = messagingNodes(nodes)
    if (withMessaging.length < 2) {
      print.line('demo', 'messaging module not enabled: step skipped')
      return
    }
    const [orchestrator, ...bidders] = withMessaging
    const servers = bidders.map(({ n, m }, i) => m.serveBids(request => {
      const cores = 4 + 2 * i
      if ((request.resources.cpuCores ?? 0) > cores) return null
      return { price: 10 + 3 * i, resources: { cpuCores: cores, memoryMiB: 4096 * (i + 1) }, info: { node: n.name } }
    }))
    try {
      const topic = DEFAULT_MESSAGING_CONFIG.jobsTopic
      await until(() => bidders.every(b => orchestrator!.m.pubsub.peersOf(topic).includes(b.n.node.peerId)), 10_000, signal)
      const names = new Map(nodes.map(n => [n.node.peerId, n.name]))
      const t0 = performance.now()
      const job = orchestrator!.m.publishJob({ kind: 'docker', resources: { cpuCores: 2, memoryMiB: 2048 } }, { deadlineMs: 3000, maxBids: bidders.length, signal })
      print.line(orchestrator!.n.name, `published job ${job.requestId.slice(0, 8)}… (2 cores, 2 GiB) on ${topic}; collecting bids for 3 s`)
      for await (const bid of job) {
        print.line(orchestrator!.n.name, `bid from ${names.get(bid.bidder) ?? print.peer(bid.bidder)}: price ${bid.price}, ${bid.resources?.cpuCores ?? '?'} cores (signed, after ${(performance.now() - t0).toFixed(0)} ms)`)
      }
      const all = await job.bids
      const best = [...all].sort((a, b) => a.price - b.price)[0]
      print.line(orchestrator!.n.name, `${all.length} of ${bidders.length} bids in ${(performance.now() - t0).toFixed(0)} ms` +
        (best != null ? `; cheapest: ${names.get(best.bidder) ?? print.peer(best.bidder)} at ${best.price}` : ''))
    } finally {
      for (const s of servers) s.stop()
    }
  }
}

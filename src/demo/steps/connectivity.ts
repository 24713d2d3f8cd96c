/**
 * Step 1: every node reaches every other. Discovery (bootstrap to n1, mDNS on the LAN profile)
 * connects most pairs; any pair still apart after a grace period is dialled by peer id only, so
 * the address comes from the peer store or a DHT lookup - peer routing at work.
 */
import type { DemoStep } from './types.js'

export const connectivity: DemoStep = {
  title: 'connectivity: discovery, then peer routing for any pair still apart',
  async run ({ nodes, print, signal }) {
    const missing = (): Array<[number, number]> => {
      const out: Array<[number, number]> = []
      for (let i = 0; i < nodes.length; i++) {
        for (let j = i + 1; j < nodes.length; j++) {
          if (!nodes[i]!.node.network.isConnected(nodes[j]!.node.peerId)) out.push([i, j])
        }
      }
      return out
    }
    // let bootstrap and mDNS do their work first
    for (let waited = 0; waited < 6000 && missing().length > 0; waited += 250) {
      signal.throwIfAborted()
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    for (const [i, j] of missing()) {
      const from = nodes[j]!
      const to = nodes[i]!
      print.line(from.name, `not yet connected to ${to.name}: dialling it by peer id (peer store / DHT lookup)`)
      try {
        await from.node.network.dial(to.node.peerId, { signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]) })
      } catch (err) {
        if (signal.aborted) throw err
        print.line(from.name, `could not reach ${to.name}: ${(err as Error).name}: ${(err as Error).message}`)
      }
    }
    const left = missing()
    const pairs = nodes.length * (nodes.length - 1) / 2
    print.line('demo', left.length === 0
      ? `all ${nodes.length} nodes connected (full mesh, ${pairs} pairs)`
      : `${pairs - left.length}/${pairs} pairs connected`)
  }
}

/**
 * Step 1: every node reaches every other. Discovery (bootstrap to n1, mDNS on the LAN profile)
 * connects most pairs; any pair still apart after a grace period is dialled by peer id only, so
 * the address comes from the peer store or a DHT lookup - peer routing at work.
 */
import type { DemoContext, DemoStep } from './types.js'
import { withTimeout } from '../../util/signal.js'

/**
 * Waits up to `graceMs` for discovery to connect every pair, then dials the pairs still apart by
 * peer id. Returns how many pairs are connected, out of how many.
 */
export async function ensureMesh ({ nodes, print, signal }: DemoContext, graceMs: number): Promise<{ connected: number, pairs: number }> {
  const missing = (): Array<[number, number]> => {
    const out: Array<[number, number]> = []
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        if (!nodes[i]!.node.network.isConnected(nodes[j]!.node.peerId)) out.push([i, j])
      }
    }
    return out
  }
  for (let waited = 0; waited < graceMs && missing().length > 0; waited += 250) {
    signal.throwIfAborted()
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  for (const [i, j] of missing()) {
    const from = nodes[j]!
    const to = nodes[i]!
    print.line(from.name, `not yet connected to ${to.name}: dialling it by peer id (peer store / DHT lookup)`)
    try {
      await from.node.network.dial(to.node.peerId, { signal: withTimeout(signal, 15_000) })
    } catch (err) {
      if (signal.aborted) throw err
      print.line(from.name, `could not reach ${to.name}: ${(err as Error).name}: ${(err as Error).message}`)
    }
  }
  const pairs = nodes.length * (nodes.length - 1) / 2
  return { connected: pairs - missing().length, pairs }
}

export const connectivity: DemoStep = {
  title: 'connectivity: discovery, then peer routing for any pair still apart',
  async run (ctx) {
    const { connected, pairs } = await ensureMesh(ctx, 6000)
    ctx.print.line('demo', connected === pairs
      ? `all ${ctx.nodes.length} nodes connected (full mesh, ${pairs} pairs)`
      : `${connected}/${pairs} pairs connected`)
  }
}

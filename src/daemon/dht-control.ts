/**
 * DHT control methods (`node.dht.status`, `node.dht.find-peer`): the routing table's size, how
 * network lookups started and ended (src/network/dht-direct.ts), and a peer lookup that always asks
 * the network (never the local peer store), so an operator or the scale bench (bench/scale.ts) can
 * see whether the DHT itself finds peers, and how fast.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { MethodRegistry } from '../control/registry.js'
import { node as api } from '../control/catalogue/index.js'
import type { Network } from '../network/types.js'
import { withTimeout } from '../util/signal.js'
import { directLookupStats } from '../network/dht-direct.js'

/** What kad-dht has and its public interface does not show. */
interface DhtInternals {
  getMode: () => 'client' | 'server'
  routingTable?: { size: number }
}

export function registerDhtControl (registry: MethodRegistry, network: Network): void {
  registry.implement(api.dhtStatus, () => {
    const dht = network.dht as unknown as DhtInternals
    const lookups = directLookupStats(network.dht)
    return { mode: dht.getMode(), routingTableSize: dht.routingTable?.size ?? 0, ...(lookups != null ? { lookups: { ...lookups } } : {}) }
  })

  registry.implement(api.dhtFindPeer, async ({ peer, timeoutMs, via }, { signal }) => {
    const id = peerIdFromString(peer)
    const t0 = performance.now()
    let asked = 0
    let addresses: string[] | undefined
    // the breakdown of one lookup's time (first query out, first answer in, queries and failures)
    const trace: { firstQueryMs?: number, firstResponseMs?: number, queries: number, queryErrors: number } = { queries: 0, queryErrors: 0 }
    try {
      const events = network.dht.findPeer(id, { signal: withTimeout(signal, timeoutMs), useCache: false, ...(via != null ? { dmsnetVia: via } : {}) })
      for await (const ev of events) {
        if (ev.name === 'SEND_QUERY') { trace.queries++; trace.firstQueryMs ??= performance.now() - t0 }
        if (ev.name === 'QUERY_ERROR') trace.queryErrors++
        if (ev.name === 'PEER_RESPONSE') { asked++; trace.firstResponseMs ??= performance.now() - t0 }
        if (ev.name === 'FINAL_PEER') { addresses = ev.peer.multiaddrs.map(String); break }
      }
    } catch (err) {
      signal.throwIfAborted()
      // not found, or the lookup timed out: an answer, not a failure of the call
      return { found: false, ms: performance.now() - t0, asked, error: (err as Error).name, ...trace }
    }
    return { found: addresses != null, ms: performance.now() - t0, asked, addresses: addresses ?? [], ...trace }
  })
}

/**
 * A network peer lookup asks the target itself first when the routing table holds it.
 *
 * Why (issue 10, CPU and latency per DHT lookup at N=100): kad-dht's `findPeer` without the cache
 * shuffles the 20 closest peers of the routing table into `disjointPaths` (3) paths and starts
 * `alpha` (3) queries on each at once: up to 9 FIND_NODE requests, and at N=100, where a node is
 * connected to about half of the others, 4-5 new connections (TCP, Noise, yamux, identify both
 * ways, gossipsub's and kad-dht's work on a new peer, both ends), each of which may push a node over
 * its high-water mark so that another connection is trimmed. When the table holds the target, the
 * target is the closest peer there is (distance 0), it answers a FIND_NODE for its own key with its
 * own record, and the first of those answers ends the lookup: everything else was spent for
 * nothing, and the lookup ended by aborting the requests and dials still in flight.
 *
 * So when the routing table holds the target, the lookup first sends that one request to the
 * target (dialling it if needed, as kad-dht's own first query to it would). Its answer naming the
 * target ends the lookup, as before. If it fails (the target is gone, or refuses), answers without
 * itself, or has not answered within `fallbackMs`, kad-dht's full lookup starts (the direct request
 * keeps running beside it; whichever names the target first ends both). A target the table does not
 * hold, a lookup with the cache allowed (kad-dht answers those from the peer store) or one without
 * the network is kad-dht's own, unchanged. The result is the same as kad-dht's: the peer's record
 * from the network, now from the peer itself.
 * `DMSNET_DHT_DIRECT=0` turns it off (for before/after benchmarks).
 */
import { MessageType } from '@libp2p/kad-dht'
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'

/** The part of kad-dht's query events used here. */
interface QueryEvent {
  name: string
  type: number
  from?: PeerId
  closer?: PeerInfo[]
  path?: unknown
}

interface FindPeerOptions extends AbortOptions {
  useCache?: boolean
  useNetwork?: boolean
  [k: string]: unknown
}

type FindPeer = (id: PeerId, options?: FindPeerOptions) => AsyncGenerator<QueryEvent>

/** The members of kad-dht 16's KadDHT used here. */
interface DhtInternals {
  peerRouting: { findPeer: FindPeer }
  network: { sendRequest: (to: PeerId, msg: { type: MessageType, key: Uint8Array }, options: Record<string, unknown>) => AsyncGenerator<QueryEvent> }
  routingTable: { find: (id: PeerId, options?: AbortOptions) => Promise<PeerId | undefined> }
}

export interface DirectLookupStats {
  /** Lookups that asked the target first. */
  direct: number
  /** Of those, lookups the target's own answer ended. */
  answered: number
  /** Of those, lookups that started kad-dht's full lookup as well. */
  fellBack: number
}

const statsOf = new WeakMap<object, DirectLookupStats>()

/** The counters of a DHT `askTargetFirst` was installed on. */
export function directLookupStats (dht: object): DirectLookupStats | undefined {
  return statsOf.get(dht)
}

export function directWanted (value: string | undefined): boolean {
  return !(value === '0' || value === 'off' || value === 'false')
}

export interface DirectOptions {
  /** With no answer from the target by then, kad-dht's full lookup starts beside it. */
  fallbackMs: number
}

function isDht (x: unknown): x is DhtInternals {
  const d = x as Partial<DhtInternals> | null
  return d != null && typeof d.peerRouting?.findPeer === 'function' && typeof d.network?.sendRequest === 'function' && typeof d.routingTable?.find === 'function'
}

/**
 * Installs the direct first question on a built kad-dht service; undefined (nothing changed) when
 * turned off or its shape is unknown.
 */
export function askTargetFirst (dht: unknown, options: DirectOptions): DirectLookupStats | undefined {
  if (!directWanted(process.env.DMSNET_DHT_DIRECT) || !isDht(dht)) return undefined
  const stats: DirectLookupStats = { direct: 0, answered: 0, fellBack: 0 }
  const routing = dht.peerRouting
  const full = routing.findPeer.bind(routing)
  routing.findPeer = async function * (id, opts = {}) {
    if (opts.useCache !== false || opts.useNetwork === false || (await dht.routingTable.find(id, opts).catch(() => undefined)) == null) {
      yield * full(id, opts)
      return
    }
    stats.direct++
    const done = new AbortController()
    const signal = opts.signal != null ? AbortSignal.any([opts.signal, done.signal]) : done.signal
    // one channel for the events of the direct request and, once started, of the full lookup
    const events: QueryEvent[] = []
    let wake: (() => void) | undefined
    let running = 0
    let fullStarted = false
    let failure: unknown
    // set as soon as the direct answer names the target, so that its end starts nothing more
    let answered = false
    const namesTarget = (ev: QueryEvent): PeerInfo | undefined => ev.name === 'PEER_RESPONSE' && ev.from?.equals(id) === true ? ev.closer?.find(p => p.id.equals(id)) : undefined
    const pump = async (source: AsyncGenerator<QueryEvent>, isFull: boolean): Promise<void> => {
      running++
      try {
        for await (const ev of source) {
          if (!isFull && namesTarget(ev) != null) answered = true
          events.push(ev)
          wake?.()
        }
      } catch (err) {
        // the full lookup's NotFoundError (or an abort) is the caller's answer when nothing else found the target
        if (isFull) failure = err
      } finally {
        running--
        wake?.()
      }
    }
    const startFull = (): void => {
      if (fullStarted || answered || done.signal.aborted) return
      fullStarted = true
      stats.fellBack++
      void pump(full(id, { ...opts, signal }), true)
    }
    const direct = dht.network.sendRequest(id, { type: MessageType.FIND_NODE, key: id.toMultihash().bytes }, {
      ...opts,
      signal,
      path: { index: -1, queued: 0, running: 1, total: 1 }
    })
    const timer = setTimeout(startFull, options.fallbackMs)
    void pump(direct, false).then(() => { startFull() })
    try {
      for (;;) {
        while (events.length > 0) {
          const ev = events.shift()!
          yield ev
          if (ev.name === 'FINAL_PEER') return
          const self = namesTarget(ev)
          if (self != null) {
            stats.answered++
            // what kad-dht yields when an answer names the target
            yield { ...ev, name: 'FINAL_PEER', type: 2, peer: self } as unknown as QueryEvent
            return
          }
        }
        if (running === 0 && (fullStarted || answered)) break
        await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
      }
      if (failure != null) throw failure
    } finally {
      clearTimeout(timer)
      done.abort()
    }
  }
  statsOf.set(dht, stats)
  return stats
}

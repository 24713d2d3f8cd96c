/**
 * A network peer lookup asks first whoever can answer without a new connection: the target itself
 * when connected to it, otherwise the (up to 3) connected peers closest to the target.
 *
 * Why (issue 10, CPU and latency per DHT lookup at N=100 on 2 cores): kad-dht's `findPeer` without
 * the cache shuffles the 20 closest peers of the routing table into `disjointPaths` (3) paths and
 * starts `alpha` (3) queries on each at once: up to 9 FIND_NODE requests and, at N=100, where a node
 * is connected to about a third to a half of the others, 4-5 new connections (TCP, Noise, yamux,
 * identify both ways, gossipsub's and kad-dht's work on a new peer, at both ends), each of which may
 * push a node over its high-water mark so that another is trimmed. The first answer naming the
 * target ends the lookup and aborts the rest.
 *
 * Stop 28 asked a target the routing table holds first, dialling it when not connected (one new
 * connection instead of 4-5, only for the ~2/3 of targets held). Now:
 * - connected to a target the routing table holds (a DHT server): one FIND_NODE to it; it answers
 *   for its own key with its own record;
 * - not connected: FIND_NODE(target) to the connected peers of the routing table closest to the
 *   target by XOR distance, in parallel, on their open connections. A FIND_NODE answer holds the
 *   peer-store record of the key's peer when the answering node has one (kad-dht's
 *   `getClosestPeersOffline`), and a node close to the target holds it in its table: one round trip,
 *   no dial, whether or not our table holds the target.
 * An answer naming the target with addresses ends the lookup, exactly as in kad-dht's own lookup
 * (the first answer naming it wins; a record from the network, never the local store). If every
 * first question failed or answered without it, at once, or when none has named it within
 * `fallbackMs`, kad-dht's full lookup starts beside them; whichever names the target first ends
 * both. A lookup with the cache allowed (kad-dht answers those from the peer store) or without the
 * network is kad-dht's own, unchanged.
 *
 * `DMSNET_DHT_DIRECT`: `0` (or off, false) = kad-dht alone; `target` = stop 28's (the target first
 * when the table holds it, dialled if needed; else kad-dht); anything else = the above. A lookup may
 * name its own with the `dmsnetVia` option (the control method's `via`), for A/B runs in one network.
 */
import { MessageType } from '@libp2p/kad-dht'
import { sha256 } from 'multiformats/hashes/sha2'
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'

/** The part of kad-dht's query events used here. */
interface QueryEvent {
  name: string
  type: number
  from?: PeerId
  closer?: PeerInfo[]
  path?: unknown
}

/** How a lookup starts: see the file's comment. */
export type LookupVia = 'auto' | 'target' | 'kad'

interface FindPeerOptions extends AbortOptions {
  useCache?: boolean
  useNetwork?: boolean
  /** this lookup's own way, over the process's (`DMSNET_DHT_DIRECT`) */
  dmsnetVia?: LookupVia
  [k: string]: unknown
}

type FindPeer = (id: PeerId, options?: FindPeerOptions) => AsyncGenerator<QueryEvent>

/** The members of kad-dht 16's KadDHT used here. */
interface DhtInternals {
  peerRouting: { findPeer: FindPeer }
  network: { sendRequest: (to: PeerId, msg: { type: MessageType, key: Uint8Array }, options: Record<string, unknown>) => AsyncGenerator<QueryEvent> }
  routingTable: {
    find: (id: PeerId, options?: AbortOptions) => Promise<PeerId | undefined>
    closestPeers: (kadId: Uint8Array, options?: { count?: number }) => PeerId[]
    size: number
  }
}

export interface DirectLookupStats {
  /** Lookups that asked the target first. */
  direct: number
  /** Of those, lookups the target's own answer ended. */
  answered: number
  /** Of `direct`, the target was not connected (dialled for the question: `target` only). */
  dialled: number
  /** Lookups that asked connected peers close to the target first. */
  neighbours: number
  /** Of those, lookups a neighbour's answer naming the target ended. */
  neighbourAnswered: number
  /** Lookups (of either kind) that started kad-dht's full lookup as well. */
  fellBack: number
  /** Of those, fell back when the first questions ended without the target (the rest: the timer). */
  fellBackEarly: number
  /** Lookups that went to kad-dht's full lookup at once (no one to ask first). */
  full: number
}

const statsOf = new WeakMap<object, DirectLookupStats>()

/** The counters of a DHT `askTargetFirst` was installed on. */
export function directLookupStats (dht: object): DirectLookupStats | undefined {
  return statsOf.get(dht)
}

/** The process's way from `DMSNET_DHT_DIRECT`. */
export function lookupVia (value: string | undefined): LookupVia {
  if (value === '0' || value === 'off' || value === 'false') return 'kad'
  if (value === 'target' || value === 'dial') return 'target'
  return 'auto'
}

/** Whether the first questions are on at all (`DMSNET_DHT_DIRECT` other than 0/off/false). */
export function directWanted (value: string | undefined): boolean {
  return lookupVia(value) !== 'kad'
}

export interface DirectOptions {
  /** With no answer naming the target by then, kad-dht's full lookup starts beside the first questions. */
  fallbackMs: number
  /** Whether there is an open connection to a peer (no dial needed to ask it). */
  connected: (peer: PeerId) => boolean
  /** How many connected neighbours to ask at once. */
  neighbours?: number
}

function isDht (x: unknown): x is DhtInternals {
  const d = x as Partial<DhtInternals> | null
  return d != null && typeof d.peerRouting?.findPeer === 'function' && typeof d.network?.sendRequest === 'function' &&
    typeof d.routingTable?.find === 'function' && typeof d.routingTable?.closestPeers === 'function'
}

/** The connected peers of the routing table closest to `id` (XOR distance of kad ids), at most `count`. */
async function closestConnected (dht: DhtInternals, id: PeerId, count: number, connected: (p: PeerId) => boolean): Promise<PeerId[]> {
  const kadId = (await sha256.digest(id.toMultihash().bytes)).digest
  const out: PeerId[] = []
  for (const p of dht.routingTable.closestPeers(kadId, { count: dht.routingTable.size })) {
    if (p.equals(id) || !connected(p)) continue
    out.push(p)
    if (out.length >= count) break
  }
  return out
}

/**
 * Installs the first questions on a built kad-dht service; undefined (nothing changed) when turned
 * off or its shape is unknown.
 */
export function askTargetFirst (dht: unknown, options: DirectOptions): DirectLookupStats | undefined {
  const processVia = lookupVia(process.env.DMSNET_DHT_DIRECT)
  if (processVia === 'kad' || !isDht(dht)) return undefined
  const stats: DirectLookupStats = { direct: 0, answered: 0, dialled: 0, neighbours: 0, neighbourAnswered: 0, fellBack: 0, fellBackEarly: 0, full: 0 }
  const width = options.neighbours ?? 3
  const routing = dht.peerRouting
  const full = routing.findPeer.bind(routing)

  /** Whom to ask first, and as what; undefined = kad-dht's full lookup at once. */
  const firstQuestions = async (id: PeerId, via: LookupVia, opts: FindPeerOptions): Promise<{ ask: PeerId[], target: boolean } | undefined> => {
    if (via === 'kad') return undefined
    // the table holds DHT servers only: a connected peer outside it may not answer FIND_NODE at all
    const held = (await dht.routingTable.find(id, opts).catch(() => undefined)) != null
    if (held && options.connected(id)) return { ask: [id], target: true }
    if (via === 'auto') {
      const near = await closestConnected(dht, id, width, options.connected).catch(() => [])
      if (near.length > 0) return { ask: near, target: false }
    }
    // stop 28's way (and `auto` with no connected DHT peer at all): the held target, dialled
    return held ? { ask: [id], target: true } : undefined
  }

  routing.findPeer = async function * (id, opts = {}) {
    const via = opts.dmsnetVia ?? processVia
    const plan = opts.useCache !== false || opts.useNetwork === false ? undefined : await firstQuestions(id, via, opts)
    if (plan == null) {
      if (opts.useCache === false && opts.useNetwork !== false && via !== 'kad') stats.full++
      yield * full(id, opts)
      return
    }
    if (plan.target) {
      stats.direct++
      if (!options.connected(id)) stats.dialled++
    } else {
      stats.neighbours++
    }
    const done = new AbortController()
    const signal = opts.signal != null ? AbortSignal.any([opts.signal, done.signal]) : done.signal
    // one channel for the events of the first questions and, once started, of the full lookup
    const events: Array<{ ev: QueryEvent, first: boolean }> = []
    let wake: (() => void) | undefined
    let running = 0
    let firstRunning = plan.ask.length
    let fullStarted = false
    let failure: unknown
    // set as soon as a first answer names the target, so that the others' end starts nothing more
    let answered = false
    // kad-dht's handler drops peers without addresses; a record without any would not help the caller
    const namesTarget = (ev: QueryEvent): PeerInfo | undefined => ev.name === 'PEER_RESPONSE' ? ev.closer?.find(p => p.id.equals(id) && p.multiaddrs.length > 0) : undefined
    const pump = async (source: AsyncGenerator<QueryEvent>, isFull: boolean): Promise<void> => {
      running++
      try {
        for await (const ev of source) {
          if (!isFull && namesTarget(ev) != null) answered = true
          events.push({ ev, first: !isFull })
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
    const startFull = (early: boolean): void => {
      if (fullStarted || answered || done.signal.aborted) return
      fullStarted = true
      stats.fellBack++
      if (early) stats.fellBackEarly++
      void pump(full(id, { ...opts, signal }), true)
    }
    const key = id.toMultihash().bytes
    const timer = setTimeout(() => { startFull(false) }, options.fallbackMs)
    for (const peer of plan.ask) {
      const source = dht.network.sendRequest(peer, { type: MessageType.FIND_NODE, key }, {
        ...opts,
        signal,
        path: { index: -1, queued: 0, running: plan.ask.length, total: plan.ask.length }
      })
      // all first questions over without the target: no reason to wait for the timer
      void pump(source, false).then(() => { if (--firstRunning === 0) startFull(true) })
    }
    try {
      for (;;) {
        while (events.length > 0) {
          const { ev, first } = events.shift()!
          yield ev
          if (ev.name === 'FINAL_PEER') return
          const found = namesTarget(ev)
          if (found != null) {
            if (first && plan.target) stats.answered++
            if (first && !plan.target) stats.neighbourAnswered++
            // what kad-dht yields when an answer names the target
            yield { ...ev, name: 'FINAL_PEER', type: 2, peer: found } as unknown as QueryEvent
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

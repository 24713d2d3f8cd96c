/**
 * Keeps a host at a minimum number of connected peers by dialing peers it already knows.
 *
 * Why (issue 10, seen in bench/scale.ts): js-libp2p 3 has no low-water mark. Its connection
 * manager only prunes above `maxConnections`, and the only redials are of peers tagged
 * keep-alive (kad-dht's 20 closest). A default daemon in a 25-node network held 1-6 connections
 * that churned within minutes (ping timeouts under load, the other side's restarts), so gossip
 * meshes stayed thin and DHT lookups started from a node that barely knew the network.
 *
 * What it does, and what it costs: one check every `intervalMs` (a `getConnections()` call while
 * the host has enough peers: nothing else). Below `minConnections` it dials up to
 * `maxDialsPerCheck` known peers (peer store: routing table, gossip, bootstrap, anyone seen),
 * those that proved reachable before (they have known protocols) first. A peer whose dial fails
 * waits `backoffMs`, doubling up to `maxBackoffMs`, before it is tried again, so a node whose
 * peer store is full of dead addresses does not dial them in a loop. It never looks for new peers
 * itself (that is the DHT's and the random walk's job): with fewer known peers than the minimum it
 * stays at what it has.
 */
import type { Connection, PeerId, Peer } from '@libp2p/interface'
import { withTimeout } from '../util/signal.js'

export interface ConnectionKeeperInit {
  /** Distinct connected peers to keep; 0 turns the keeper off. */
  minConnections: number
  /** Time between checks. */
  intervalMs: number
  /** Dials started by one check, at most. */
  maxDialsPerCheck: number
  /** Bound of each dial. */
  dialTimeoutMs: number
  /** First wait before a peer whose dial failed is tried again (doubles per failure). */
  backoffMs?: number
  maxBackoffMs?: number
  onDial?: (peer: string, error?: Error) => void
}

export interface ConnectionKeeperStats {
  checks: number
  /** Checks that found the host below the minimum. */
  below: number
  dials: number
  dialFailures: number
  /** Peers waiting out a backoff now. */
  backingOff: number
}

export interface ConnectionKeeper {
  stop(): void
  stats(): ConnectionKeeperStats
  /** Runs one check now (the next timed one is not moved); resolves when its dials are settled. */
  check(): Promise<void>
}

/** What the keeper needs of a libp2p host. */
export interface KeeperHost {
  peerId: PeerId
  getConnections(): Connection[]
  dial(peer: PeerId, options?: { signal?: AbortSignal }): Promise<unknown>
  peerStore: { all(): Promise<Peer[]> }
}

const DEFAULT_BACKOFF_MS = 30_000
const DEFAULT_MAX_BACKOFF_MS = 600_000
/** Failed peers remembered at most (the oldest are forgotten first). */
const MAX_BACKOFF_ENTRIES = 1024

/** Distinct peers with an open, unlimited (not relayed-with-limits) connection. */
export function connectedPeers (conns: Connection[]): Set<string> {
  const peers = new Set<string>()
  for (const c of conns) {
    if (c.status === 'open' && c.limits == null) peers.add(c.remotePeer.toString())
  }
  return peers
}

/** Dial candidates, best first: known protocols (it answered before), then tagged, then the rest shuffled. */
export function rankCandidates (peers: Peer[], exclude: (id: string) => boolean, random: () => number = Math.random): Peer[] {
  const scored = peers
    .filter(p => p.addresses.length > 0 && !exclude(p.id.toString()))
    .map(p => ({ p, score: (p.protocols.length > 0 ? 2 : 0) + (p.tags.size > 0 ? 1 : 0) + random() }))
  scored.sort((a, b) => b.score - a.score)
  return scored.map(s => s.p)
}

/** Starts the keeper on `host`; `stop()` ends it and aborts dials in flight. */
export function startConnectionKeeper (host: KeeperHost, init: ConnectionKeeperInit): ConnectionKeeper {
  const stopped = new AbortController()
  const backoffBase = init.backoffMs ?? DEFAULT_BACKOFF_MS
  const backoffMax = init.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS
  const backoff = new Map<string, { until: number, wait: number }>()
  const stats = { checks: 0, below: 0, dials: 0, dialFailures: 0 }
  const self = host.peerId.toString()
  let running: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined

  const failed = (peer: string): void => {
    const wait = Math.min((backoff.get(peer)?.wait ?? backoffBase / 2) * 2, backoffMax)
    backoff.delete(peer) // re-insert: Map order is the eviction order
    backoff.set(peer, { until: Date.now() + wait, wait })
    if (backoff.size > MAX_BACKOFF_ENTRIES) backoff.delete(backoff.keys().next().value!)
  }

  async function runCheck (): Promise<void> {
    stats.checks++
    const connected = connectedPeers(host.getConnections())
    const need = init.minConnections - connected.size
    if (need <= 0) return
    stats.below++
    const now = Date.now()
    for (const peer of backoff.keys()) if (connected.has(peer)) backoff.delete(peer)
    const candidates = rankCandidates(await host.peerStore.all(), id =>
      id === self || connected.has(id) || (backoff.get(id)?.until ?? 0) > now
    ).slice(0, Math.min(need, init.maxDialsPerCheck))
    await Promise.all(candidates.map(async peer => {
      if (stopped.signal.aborted) return
      const id = peer.id.toString()
      stats.dials++
      try {
        await host.dial(peer.id, { signal: withTimeout(stopped.signal, init.dialTimeoutMs) })
        backoff.delete(id)
        init.onDial?.(id)
      } catch (err) {
        if (stopped.signal.aborted) return
        stats.dialFailures++
        failed(id)
        init.onDial?.(id, err as Error)
      }
    }))
  }

  const check = async (): Promise<void> => {
    if (stopped.signal.aborted) return
    // one check at a time: a slow round of dials is not overlapped by the next
    running ??= runCheck().catch(() => {}).finally(() => { running = undefined })
    await running
  }

  const schedule = (): void => {
    if (stopped.signal.aborted) return
    timer = setTimeout(() => { void check().finally(schedule) }, init.intervalMs)
    timer.unref()
  }

  if (init.minConnections > 0) schedule()
  return {
    stop: () => {
      stopped.abort()
      clearTimeout(timer)
    },
    stats: () => ({ ...stats, backingOff: [...backoff.values()].filter(b => b.until > Date.now()).length }),
    check
  }
}

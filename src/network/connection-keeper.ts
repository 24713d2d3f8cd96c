/**
 * Keeps a host between a minimum and a high-water number of connected peers: dials peers it
 * already knows while below the minimum, and closes the least useful connections while above the
 * high-water mark.
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
 *
 * The high-water mark (issue 10, like Kubo's connection manager; js-libp2p 3 has none): every
 * connection costs an idle node memory (~0.5 MB: yamux, noise, identify, gossipsub and DHT state)
 * and CPU (monitor pings, gossip heartbeats), and in a 100-node network each daemon held a median
 * of 70, because every other node's walk and keeper dialed it. `maxConnections` cannot bound that:
 * libp2p refuses inbound connections at that count, so a busy bootstrap node set to a low cap
 * would turn newcomers away for good. Instead, while above `highWater` peers a check closes
 * connections down to `lowWater`: never those younger than `gracePeriodMs` (a newcomer gets its
 * identify, DHT and gossip exchange done), never peers with a `keep-alive*` tag (kad-dht's
 * closest: libp2p re-dials those at once), never a peer that came back within
 * `STICKY_MS` of being trimmed (the other side re-dials it, e.g. we are among ITS closest: trimming
 * it again would only churn), never a connection carrying a VPN stream (a member's data link),
 * lowest tag value first (gossipsub tags mesh peers, the DHT its
 * close peers, bootstrap its peers), newest first among equals (what libp2p's own pruner does).
 * Room stays for newcomers, and the random walk (stopped at 16 peers) does not restart.
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
  /** Above this many connected peers, close connections down to `lowWater`; 0 = never. */
  highWater?: number
  lowWater?: number
  /** Connections younger than this are never closed by the trim. */
  gracePeriodMs?: number
}

export interface ConnectionKeeperStats {
  checks: number
  /** Checks that found the host below the minimum. */
  below: number
  dials: number
  dialFailures: number
  /** Peers waiting out a backoff now. */
  backingOff: number
  /** Connections closed because the host was above the high-water mark. */
  trimmed: number
  /** Checks above the high-water mark that read peer records (some peer could be trimmed). */
  storeReads: number
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
  peerStore: { all(): Promise<Peer[]>, get(peer: PeerId): Promise<Peer> }
}

/** libp2p re-dials peers with a tag starting so (`keep-alive`, kad-dht's `keep-alive-kad-dht`). */
const KEEP_ALIVE = 'keep-alive'
/**
 * A connection carrying one of these streams is never trimmed: a VPN member's data link lives on
 * it, and closing it would cut the member's traffic until the link redials.
 */
const PROTECTED_STREAM_PREFIXES = ['/dmsnet/vpn/']
const carriesProtectedStream = (c: Connection): boolean => c.streams.some(s => PROTECTED_STREAM_PREFIXES.some(p => s.protocol?.startsWith(p) === true))
/** Peers whose tags kept them all at the last check are looked up again after this long. */
const TAGS_RECHECK_MS = 60_000
/** A trimmed peer that reconnects within this long is not trimmed again (see the header). */
const STICKY_MS = 30 * 60_000

/**
 * Connections to close to bring `conns` down to `lowWater` peers: eligible ones (older than the
 * grace period, not keep-alive) by tag value, then newest first; all connections of a peer go.
 */
export function trimCandidates (conns: Connection[], peers: Map<string, Peer>, lowWater: number, gracePeriodMs: number, now = Date.now(), exempt: (id: string) => boolean = () => false): Connection[] {
  const byPeer = new Map<string, Connection[]>()
  for (const c of conns) {
    if (c.status !== 'open' || c.limits != null) continue
    const id = c.remotePeer.toString()
    byPeer.set(id, [...(byPeer.get(id) ?? []), c])
  }
  const excess = byPeer.size - lowWater
  if (excess <= 0) return []
  const value = (id: string): number => [...(peers.get(id)?.tags.values() ?? [])].reduce((a, t) => a + t.value, 0)
  const eligible = [...byPeer.entries()]
    .filter(([id, cs]) => !exempt(id) && ![...(peers.get(id)?.tags.keys() ?? [])].some(t => t.startsWith(KEEP_ALIVE)) && cs.every(c => now - c.timeline.open >= gracePeriodMs && !carriesProtectedStream(c)))
    .map(([id, cs]) => ({ cs, value: value(id), opened: Math.max(...cs.map(c => c.timeline.open)) }))
  eligible.sort((a, b) => a.value - b.value || b.opened - a.opened)
  return eligible.slice(0, excess).flatMap(e => e.cs)
}

/**
 * Peers trimCandidates could close judging by their connections alone (old enough, not exempt,
 * no protected stream): only their peer-store records (tags) need reading.
 */
export function trimmablePeers (conns: Connection[], gracePeriodMs: number, now = Date.now(), exempt: (id: string) => boolean = () => false): PeerId[] {
  const byPeer = new Map<string, { peer: PeerId, ok: boolean }>()
  for (const c of conns) {
    if (c.status !== 'open' || c.limits != null) continue
    const id = c.remotePeer.toString()
    const ok = !exempt(id) && now - c.timeline.open >= gracePeriodMs && !carriesProtectedStream(c)
    const seen = byPeer.get(id)
    byPeer.set(id, { peer: c.remotePeer, ok: ok && (seen?.ok ?? true) })
  }
  return [...byPeer.values()].filter(p => p.ok).map(p => p.peer)
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
  const stats = { checks: 0, below: 0, dials: 0, dialFailures: 0, trimmed: 0, storeReads: 0 }
  const highWater = init.highWater ?? 0
  const lowWater = Math.min(init.lowWater ?? highWater, highWater)
  /** peer -> when it was last trimmed (insertion order = eviction order, bounded) */
  const trimmedAt = new Map<string, number>()
  /** the candidates of the last tag read that closed nothing, and until when to trust it */
  let keptAll = { key: '', until: 0 }
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
    const conns = host.getConnections()
    const connected = connectedPeers(conns)
    if (highWater > 0 && connected.size > highWater) {
      const now = Date.now()
      const grace = init.gracePeriodMs ?? 60_000
      const exempt = (id: string): boolean => now - (trimmedAt.get(id) ?? -Infinity) < STICKY_MS
      // the tags come from the peer store, which is read only for peers that could go at all
      // (issue 10): a bootstrap node stays above the mark for good when its excess peers are
      // ones that came back after a trim (sticky) or young, and read and decoded every record it
      // holds (~100-200 peers) on every check, every 10 s, to close nothing
      const open = trimmablePeers(conns, grace, now, exempt)
      if (open.length === 0) return
      // the same candidates as a read that found all of them kept (kad-dht's keep-alive closest):
      // their tags are read again after TAGS_RECHECK_MS, not on every check
      const key = open.map(String).sort().join(',')
      if (key === keptAll.key && now < keptAll.until) return
      stats.storeReads++
      const peers = new Map<string, Peer>()
      for (const id of open) {
        const peer = await host.peerStore.get(id).catch(() => undefined)
        if (peer != null) peers.set(id.toString(), peer)
      }
      const close = trimCandidates(conns, peers, lowWater, grace, now, exempt)
      keptAll = close.length === 0 ? { key, until: now + TAGS_RECHECK_MS } : { key: '', until: 0 }
      stats.trimmed += close.length
      for (const c of close) {
        const id = c.remotePeer.toString()
        trimmedAt.delete(id)
        trimmedAt.set(id, now)
        if (trimmedAt.size > MAX_BACKOFF_ENTRIES) trimmedAt.delete(trimmedAt.keys().next().value!)
      }
      await Promise.all(close.map(async c => { await c.close().catch(() => { c.abort(new Error('trimmed above the high-water mark')) }) }))
      return
    }
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

  if (init.minConnections > 0 || highWater > 0) schedule()
  return {
    stop: () => {
      stopped.abort()
      clearTimeout(timer)
    },
    stats: () => ({ ...stats, backingOff: [...backoff.values()].filter(b => b.until > Date.now()).length }),
    check
  }
}

/**
 * Paces libp2p's random walk so an idle node stops running DHT lookups back to back.
 *
 * Why (issue 10, the idle CPU burn): libp2p's `RandomWalk` (libp2p 3.3, src/random-walk.ts) runs
 * `peerRouting.getClosestPeers(random key)` in a `while (walkers > 0)` loop with no pause between
 * iterations. circuit-relay-v2's relay discovery (we listen on `/p2p-circuit` when
 * `network.relay.client` is on) keeps one walker for as long as it has no relay reservation, and
 * AutoNAT walks while an address is unverified. In a network with no relay server (2 nodes on a
 * LAN, a private swarm, most test and small deployments) the walk never finds one, so every
 * daemon ran DHT lookups without end: ~160 FIND_NODE RPCs/s each way between two idle nodes, each
 * using most of a core, with memory rising from the stream/metrics churn. With an empty routing
 * table the same loop does not even wait for the network and spins the event loop.
 *
 * The workaround wraps the peer routing the walk uses: an iteration that turned up no peer we
 * were not already connected to doubles the pause before the next one (from `minIntervalMs` up to
 * `maxIntervalMs`); a productive one resets it. The pause is abortable by the walk's signal, so a
 * node still stops at once. If libp2p's internals move, `paceRandomWalk` returns undefined and
 * test/network/idle.spec.ts (DHT RPCs between idle nodes) fails.
 */
import { AbortedError } from '../errors.js'
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'

export interface WalkPacingInit {
  /** Pause after a productive iteration (and the floor of the backoff). */
  minIntervalMs: number
  /** Ceiling of the backoff while iterations find nothing new. */
  maxIntervalMs: number
}

export interface WalkPacingStats {
  /** Lookups the walk started. */
  iterations: number
  /** Iterations that found no peer we were not connected to. */
  unproductive: number
  /** The pause before the next iteration, ms. */
  currentIntervalMs: number
}

interface ClosestPeersRouting {
  getClosestPeers(key: Uint8Array, options?: AbortOptions): AsyncIterable<PeerInfo>
}

interface RandomWalkInternals {
  peerRouting: ClosestPeersRouting
}

interface HostLike {
  components?: unknown
  getConnections(peer?: PeerId): unknown[]
}

/** Resolves after `ms`, or rejects with AbortedError when `signal` aborts first. */
export async function pause (ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new AbortedError('random walk pause aborted'))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** How many peers found by earlier iterations are remembered as "not new" (bounded memory). */
const SEEN_LIMIT = 1024

/**
 * A `getClosestPeers` that waits between calls, backing off while calls find nothing new: a peer
 * is new when `isKnown(peer)` is false (e.g. not connected) and no earlier call found it, so an
 * undialable peer the walk keeps finding does not hold the pace at its fastest.
 */
export function pacedClosestPeers (inner: ClosestPeersRouting, init: WalkPacingInit, isKnown: (peer: PeerInfo) => boolean): ClosestPeersRouting & { stats: WalkPacingStats } {
  const min = Math.max(0, init.minIntervalMs)
  const max = Math.max(min, init.maxIntervalMs)
  const stats: WalkPacingStats = { iterations: 0, unproductive: 0, currentIntervalMs: min }
  let nextAt = 0
  let seen = new Set<string>()
  return {
    stats,
    async * getClosestPeers (key: Uint8Array, options?: AbortOptions): AsyncGenerator<PeerInfo> {
      await pause(nextAt - Date.now(), options?.signal)
      stats.iterations++
      let productive = false
      try {
        for await (const peer of inner.getClosestPeers(key, options)) {
          const id = peer.id.toString()
          if (!isKnown(peer) && !seen.has(id)) productive = true
          if (seen.size >= SEEN_LIMIT) seen = new Set()
          seen.add(id)
          yield peer
        }
      } finally {
        if (productive) {
          stats.currentIntervalMs = min
        } else {
          stats.unproductive++
          stats.currentIntervalMs = Math.min(max, Math.max(min, 1, stats.currentIntervalMs * 2))
        }
        nextAt = Date.now() + stats.currentIntervalMs
      }
    }
  }
}

/**
 * Installs the pacing on a built (not yet started) libp2p host's random walk. Returns its stats,
 * or undefined when this libp2p version has no random walk to pace.
 */
export function paceRandomWalk (host: HostLike, init: WalkPacingInit): WalkPacingStats | undefined {
  let walk: Partial<RandomWalkInternals> | undefined
  try {
    walk = (host.components as { randomWalk?: Partial<RandomWalkInternals> } | undefined)?.randomWalk
  } catch {
    return undefined // the components proxy throws for a missing service
  }
  const inner = walk?.peerRouting
  if (walk == null || inner == null || typeof inner.getClosestPeers !== 'function') return undefined
  const isConnected = (peer: PeerInfo): boolean => host.getConnections(peer.id).length > 0
  const paced = pacedClosestPeers(inner, init, isConnected)
  walk.peerRouting = paced
  return paced.stats
}

/**
 * Stops libp2p's random walk while the node already has enough connections.
 *
 * Why (issue 10, measured with 20 idle daemons bootstrapped from 3, bench/idle.ts --connect
 * bootstrap): the walk's consumers are circuit-relay-v2's relay discovery (while the node has no
 * relay reservation: always, in a network without relay servers) and AutoNAT (while an address is
 * unverified). Relay discovery dials every peer the walk finds that it is not connected to. The
 * pacing of ./paced-walk.ts resets to its shortest pause whenever a lookup finds such a peer, which
 * in any network larger than a node's connection count is every lookup: each daemon ran a DHT
 * lookup (plus libp2p's `findPeer` for every result without addresses) every few seconds, dialed
 * what it found under a 5 s timeout (half-done noise handshakes on a loaded host: ~170 failed
 * handshakes per node in 5 minutes), and kept ~10 DHT RPCs/s and 15-20 kB/s going per idle node.
 * Its connections grew towards N-1 while churn made the walk "productive" again.
 *
 * With the gate, the walk does no lookup at all while the node has at least `stopAtConnections`
 * connected peers (the relay discovery still sees relays among those peers, through the
 * registrar's topology); it only waits `checkIntervalMs` and looks again. Below that, the paced
 * walk runs as before, so a node that lost its peers still finds new ones.
 */
import { pause } from './paced-walk.js'
import type { AbortOptions, PeerInfo } from '@libp2p/interface'

export interface WalkGateInit {
  /** Connected peers at which the walk stops; 0 = never. */
  stopAtConnections: number
  /** While stopped: time between looks at the connection count. */
  checkIntervalMs: number
}

export interface WalkGateStats {
  /** Walk iterations skipped because the node had enough peers. */
  skipped: number
  /** Walk iterations let through to the DHT. */
  passed: number
}

interface ClosestPeersRouting {
  getClosestPeers(key: Uint8Array, options?: AbortOptions): AsyncIterable<PeerInfo>
}

/** `inner` (the paced walk routing) behind the gate; `connected()` counts connected peers. */
export function gatedClosestPeers (inner: ClosestPeersRouting, init: WalkGateInit, connected: () => number): ClosestPeersRouting & { stats: WalkGateStats } {
  const stats: WalkGateStats = { skipped: 0, passed: 0 }
  const saturated = (): boolean => init.stopAtConnections > 0 && connected() >= init.stopAtConnections
  return {
    stats,
    async * getClosestPeers (key: Uint8Array, options?: AbortOptions): AsyncGenerator<PeerInfo> {
      if (saturated()) {
        // the walk calls again as soon as this returns: the pause is what keeps it idle
        await pause(init.checkIntervalMs, options?.signal)
        if (saturated()) {
          stats.skipped++
          return
        }
      }
      stats.passed++
      yield * inner.getClosestPeers(key, options)
    }
  }
}

interface HostLike {
  components?: unknown
  getPeers(): unknown[]
}

/**
 * Installs the gate on a built (not started) host whose random walk is already paced. Returns its
 * stats, or undefined when this libp2p has no random walk.
 */
export function gateRandomWalk (host: HostLike, init: WalkGateInit): WalkGateStats | undefined {
  let walk: { peerRouting?: ClosestPeersRouting } | undefined
  try {
    walk = (host.components as { randomWalk?: { peerRouting?: ClosestPeersRouting } } | undefined)?.randomWalk
  } catch {
    return undefined // the components proxy throws for a missing service
  }
  const inner = walk?.peerRouting
  if (walk == null || inner == null || typeof inner.getClosestPeers !== 'function') return undefined
  const gated = gatedClosestPeers(inner, init, () => host.getPeers().length)
  walk.peerRouting = gated
  return gated.stats
}

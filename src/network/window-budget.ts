/**
 * The memory budget for yamux receive windows beyond the spec's 256 KiB: how much extra window
 * streams may hold per connection and per node, and the counters that show it.
 *
 * A receive window is memory the peer may fill without asking: whatever it sends within the
 * window sits in our buffers until the application reads it. Every stream gets the spec window
 * (it cannot be refused without breaking the wire); growth beyond it is granted from these two
 * pools and given back when the stream closes.
 */

export interface WindowBudgetInit {
  /** Extra window (beyond the spec window) all streams of one connection may hold, bytes. */
  perConnection: number
  /** Extra window all streams of this node may hold, bytes. */
  global: number
}

export interface WindowBudgetStats {
  /** Extra window granted right now, all connections. */
  grantedBytes: number
  /** Growth steps granted / refused (pool empty) since start. */
  grants: number
  refusals: number
  /** Streams holding more than the spec window right now. */
  widenedStreams: number
  /** Window-update frames sent to return credit (not counting SYN/ACK/FIN flags) since start. */
  creditUpdates: number
}

/** One connection's share; `grow` and `release` are per stream. */
export interface ConnectionWindowPool {
  /** Asks for `want` more bytes of window; returns what was granted (0..want). */
  grow(want: number): number
  /** Gives back `bytes` (a closed stream's extra window). */
  release(bytes: number): void
  /** A stream crossed the spec window (counted once per stream). */
  widened(): void
  /** A widened stream closed. */
  narrowed(): void
  /** A window update returning credit was sent. */
  credited(): void
}

export interface WindowBudget {
  readonly stats: WindowBudgetStats
  forConnection(): ConnectionWindowPool
}

export function createWindowBudget (init: WindowBudgetInit): WindowBudget {
  const stats: WindowBudgetStats = { grantedBytes: 0, grants: 0, refusals: 0, widenedStreams: 0, creditUpdates: 0 }
  return {
    stats,
    forConnection () {
      let used = 0
      return {
        grow (want) {
          const room = Math.min(init.perConnection - used, init.global - stats.grantedBytes)
          const granted = Math.max(0, Math.min(want, room))
          if (granted <= 0) {
            stats.refusals++
            return 0
          }
          used += granted
          stats.grantedBytes += granted
          stats.grants++
          return granted
        },
        release (bytes) {
          const b = Math.min(bytes, used)
          used -= b
          stats.grantedBytes -= b
        },
        widened () { stats.widenedStreams++ },
        narrowed () { stats.widenedStreams-- },
        credited () { stats.creditUpdates++ }
      }
    }
  }
}

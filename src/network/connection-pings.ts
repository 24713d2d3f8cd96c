/**
 * Connection liveness from muxer pings: libp2p's connection monitor without a stream per ping.
 *
 * Why (issue 10, bench/census.ts): libp2p's connection monitor pings every connection on a fresh
 * `/ipfs/ping/1.0.0` stream, and both ends run one. Each ping is a yamux stream opened and closed
 * (SYN, window updates, FIN both ways), a multistream-select negotiation, a peer-store read and
 * write on each side (libp2p records the protocol of every negotiated stream) and the metrics'
 * stream tracking; and yamux's own keep-alive pinged every connection again, every 30 s, in frames
 * that never time out. An idle daemon paid all of that per connection, so its cost grew with its
 * peer count.
 *
 * Here one yamux ping frame (12 bytes, answered by the peer's muxer: js-libp2p, go-libp2p and
 * rust-libp2p all do) checks each connection every `intervalMs` and measures its RTT
 * (`connection.rtt`, as libp2p's monitor did); no answer within `timeoutMs` aborts the
 * connection, as libp2p's monitor did after a failed stream ping. A connection whose muxer has no
 * ping (no such transport today) gets libp2p's stream ping instead. Between the two ends of a
 * connection, each end still checks on its own: a dead peer is noticed by us, not only by it.
 */
import { byteStream } from '@libp2p/utils'
import { ConnectionPingTimeoutError } from './errors.js'
import type { Connection } from '@libp2p/interface'

/** libp2p's ping protocol, for connections whose muxer cannot ping. */
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_LENGTH = 32

export interface ConnectionPingsInit {
  /** Time between two checks of every connection. */
  intervalMs: number
  /** A check not answered within this aborts the connection. */
  timeoutMs: number
}

export interface ConnectionPingsStats {
  /** Pings answered (muxer and stream). */
  pings: number
  /** Of them, by a stream ping (the muxer had none). */
  streamPings: number
  /** Connections aborted because their ping failed or timed out. */
  aborted: number
}

interface PingComponents {
  connectionManager: { getConnections(): Connection[] }
}

/** What of a muxer this needs: js-yamux's `ping` (round trip in ms). */
interface PingingMuxer { ping(options?: { signal?: AbortSignal }): Promise<number> }

function muxerOf (conn: Connection): PingingMuxer | undefined {
  const m = (conn as unknown as { muxer?: Partial<PingingMuxer> }).muxer
  return typeof m?.ping === 'function' ? m as PingingMuxer : undefined
}

async function streamPing (conn: Connection, signal: AbortSignal): Promise<number> {
  const stream = await conn.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true })
  try {
    const bs = byteStream(stream)
    const start = Date.now()
    const data = crypto.getRandomValues(new Uint8Array(PING_LENGTH))
    await Promise.all([bs.write(data, { signal }), bs.read({ bytes: PING_LENGTH, signal })])
    const rtt = Date.now() - start
    await stream.close({ signal })
    return rtt
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

export class ConnectionPings {
  readonly stats: ConnectionPingsStats = { pings: 0, streamPings: 0, aborted: 0 }
  private timer?: NodeJS.Timeout
  private stopped = new AbortController()
  /** Connections with a check in flight (a slow one is not pinged twice). */
  private readonly inFlight = new WeakSet<Connection>()

  constructor (private readonly components: PingComponents, private readonly init: ConnectionPingsInit) {}

  readonly [Symbol.toStringTag] = 'dmsnet/connection-pings'

  start (): void {
    this.stopped = new AbortController()
    this.timer = setInterval(() => { this.checkAll() }, this.init.intervalMs)
  }

  stop (): void {
    this.stopped.abort()
    clearInterval(this.timer)
  }

  /** One check of every open connection (what the timer runs); resolves when all settled. */
  async checkAll (): Promise<void> {
    await Promise.all(this.components.connectionManager.getConnections().map(async c => { await this.check(c) }))
  }

  private async check (conn: Connection): Promise<void> {
    if (conn.status !== 'open' || this.inFlight.has(conn) || this.stopped.signal.aborted) return
    this.inFlight.add(conn)
    const timeout = AbortSignal.timeout(this.init.timeoutMs)
    const signal = AbortSignal.any([timeout, this.stopped.signal])
    try {
      const muxer = muxerOf(conn)
      conn.rtt = muxer != null ? await muxer.ping({ signal }) : await streamPing(conn, signal)
      this.stats.pings++
      if (muxer == null) this.stats.streamPings++
    } catch (err) {
      if (this.stopped.signal.aborted || conn.status !== 'open') return
      // a stream ping refused by protocol still proves the peer alive (libp2p's monitor agrees);
      // a muxer already going away is being closed by someone else
      if (['UnsupportedProtocolError', 'MuxerClosedError'].includes((err as Error).name)) return
      this.stats.aborted++
      const why = timeout.aborted ? `no ping answer within ${this.init.timeoutMs} ms` : `ping failed: ${(err as Error).message}`
      conn.abort(new ConnectionPingTimeoutError(why))
    } finally {
      this.inFlight.delete(conn)
    }
  }
}

/** The libp2p service factory (`services.connectionPings`). */
export function connectionPings (init: ConnectionPingsInit): (components: PingComponents) => ConnectionPings {
  return (components) => new ConnectionPings(components, init)
}

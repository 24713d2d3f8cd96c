/**
 * Dials the bootstrap peers again while a host has no connection at all.
 *
 * Why (issue 10, found by bench/scale.ts): `@libp2p/bootstrap` dials its list once, when the
 * host starts. A node whose first dials fail (the bootstrap nodes were busy or briefly
 * unreachable, a lossy link ate the handshake) stayed alone for good: nothing else knows of it
 * and it knows nobody, so its DHT and gossip never work. In the scale bench 9 of 25 daemons
 * started at a busy moment ended up so, with zero connections after five minutes.
 *
 * While the host has no connection, this dials every bootstrap address, then waits, doubling the
 * wait up to `maxIntervalMs` while nothing comes of it; one connection (made by anyone) resets it.
 * A connected node only pays one timer per interval.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { withTimeout } from '../util/signal.js'

export interface BootstrapRedialInit {
  /** first wait, and the wait after a success */
  intervalMs: number
  maxIntervalMs: number
  /** bound of each dial */
  dialTimeoutMs: number
  onDialError?: (addr: string, err: Error) => void
}

/** Starts the re-dial loop for `host`; returns the function that stops it (and aborts dials in flight). */
export function startBootstrapRedial (host: Pick<Libp2p, 'getConnections' | 'dial'>, bootstrap: string[], init: BootstrapRedialInit): () => void {
  if (bootstrap.length === 0) return () => {}
  const stop = new AbortController()
  let wait = init.intervalMs
  let timer: NodeJS.Timeout | undefined

  const schedule = (): void => {
    if (stop.signal.aborted) return
    timer = setTimeout(() => { void tick() }, wait)
    timer.unref()
  }

  async function tick (): Promise<void> {
    if (host.getConnections().length > 0) {
      wait = init.intervalMs
      schedule()
      return
    }
    await Promise.all(bootstrap.map(async addr => {
      try {
        await host.dial(multiaddr(addr), { signal: withTimeout(stop.signal, init.dialTimeoutMs) })
      } catch (err) {
        if (!stop.signal.aborted) init.onDialError?.(addr, err as Error)
      }
    }))
    wait = host.getConnections().length > 0 ? init.intervalMs : Math.min(wait * 2, init.maxIntervalMs)
    schedule()
  }

  schedule()
  return () => {
    stop.abort()
    clearTimeout(timer)
  }
}

/**
 * Opens tunnel streams to members. The member with the smaller peer id opens the pair's stream;
 * the other one dials too, as a fallback, when no stream has arrived after `FALLBACK_DIAL_MS`
 * (the designated dialer may be unable to reach it, e.g. behind NAT); a stream from the
 * designated dialer always wins. Peers are dialled by peer id only (never a string a dialler
 * could take for a multiaddr), with backoff, until the link has a stream or is no longer current.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { sleep } from '../util/sleep.js'
import { withTimeout } from '../util/signal.js'
import type { PeerLink } from './link.js'
import type { Logger } from '../logging.js'
import type { Network } from '../network/types.js'
import type { AbortOptions } from '@libp2p/interface'

/** How long the member with the larger peer id waits for the designated dialer before dialling itself. */
const FALLBACK_DIAL_MS = 3000

export interface DiallerOptions {
  network: Network
  selfPeerId: string
  dataProtocol: string
  maxRedialDelayMs?: number
  log?: Logger
  /** Whether `link` is still the live link of a running VPN (else the dialler gives up). */
  isCurrent: (link: PeerLink) => boolean
}

export interface Dialler {
  ensure (link: PeerLink): void
  /** Stops every dial loop (device closed, VPN stopped). */
  reset (): void
}

export function createDialler (opts: DiallerOptions): Dialler {
  const dialing = new Set<string>()
  let lifecycle = new AbortController()

  return {
    reset () {
      lifecycle.abort()
      lifecycle = new AbortController()
    },
    ensure (link) {
      if (!opts.isCurrent(link) || link.stream != null || dialing.has(link.peerId)) return
      dialing.add(link.peerId)
      const signal = lifecycle.signal
      const designated = opts.selfPeerId < link.peerId
      const peer = peerIdFromString(link.peerId)
      void (async () => {
        let delay = 100
        try {
          if (!designated) await sleep(FALLBACK_DIAL_MS, signal)
          while (!signal.aborted && opts.isCurrent(link) && link.stream == null) {
            try {
              const s = withTimeout(signal, 5000)
              const conn = await opts.network.dial(peer, { signal: s })
              const stream = await conn.newStream(opts.dataProtocol, { signal: s, runOnLimitedConnection: true } as AbortOptions)
              if (!opts.isCurrent(link)) {
                stream.abort(new Error('member removed'))
                return
              }
              link.attach(stream, conn.limits != null, designated)
              // The peer may refuse the stream (it has not applied the membership yet): then the
              // link is already without a stream here and we go round again.
              if (link.stream === stream) return
            } catch (err) {
              opts.log?.debug({ peer: link.peerId, err }, 'vpn tunnel dial failed')
            }
            await sleep(delay, signal)
            delay = Math.min(delay * 2, opts.maxRedialDelayMs ?? 2000)
          }
        } finally {
          dialing.delete(link.peerId)
        }
      })()
    }
  }
}

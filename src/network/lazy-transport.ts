/**
 * A libp2p transport whose code is loaded on first use (issue 10: an idle daemon should not hold
 * code it never runs). The host has the transport from the start, with the real transport's name
 * and address filters, so it dials and listens on the same addresses as before; the first dial or
 * listen imports the real transport's module (a chunk of its own in the daemon's bundle) and hands
 * over to it. Used for WebSockets (@libp2p/websockets and ws: ~60 kB of minified source),
 * which a node listening on TCP only never needs unless a peer announces a /ws address only.
 */
import { serviceCapabilities, transportSymbol } from '@libp2p/interface'
import type { Connection, CreateListenerOptions, DialTransportOptions, Listener, ListenerEvents, MultiaddrFilter, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { NotStartedError } from '../errors.js'
import { onceRetry, type OnceRetry } from '../util/once-retry.js'

export interface LazyTransportInit<C> {
  /** The real transport's `Symbol.toStringTag` (libp2p's logs and errors name transports by it). */
  tag: string
  /** The real transport's listen and dial filter: which addresses it takes. */
  filter: MultiaddrFilter
  /** Imports the real transport and returns its factory. */
  load: () => Promise<(components: C) => Transport>
}

/** The transport, with `loaded` for tests and status: whether the real one has been made. */
export interface LazyTransport extends Transport {
  readonly loaded: boolean
}

const EVENTS = ['listening', 'error', 'close'] as const

/** A listener that makes the real one on its first `listen` and passes its events on. */
class LazyListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  /** Stopped by `close`: a listen after it loads nothing. */
  private readonly real: OnceRetry<Listener, []>

  constructor (transport: () => Promise<Transport>, options: CreateListenerOptions) {
    super()
    this.real = onceRetry(async () => {
      const real = (await transport()).createListener(options)
      for (const name of EVENTS) {
        real.addEventListener(name, (e) => { this.safeDispatchEvent(name, { detail: (e as CustomEvent).detail }) })
      }
      return real
    }, () => new NotStartedError('the listener is closed'))
  }

  async listen (ma: Multiaddr): Promise<void> {
    // closed before or while the module loaded: nothing was started, nothing to undo (libp2p gets no error, as it never did)
    if (this.real.stopped) return
    const real = await this.real.get()
    if (this.real.stopped) return
    await real.listen(ma)
  }

  getAddrs (): Multiaddr[] {
    return this.real.value?.getAddrs() ?? []
  }

  updateAnnounceAddrs (addrs: Multiaddr[]): void {
    this.real.value?.updateAnnounceAddrs(addrs)
  }

  async close (): Promise<void> {
    const real = this.real.value
    // not awaited: a load under way must not hold up the close (its listener is never started)
    void this.real.stop()
    if (real != null) { await real.close(); return }
    this.safeDispatchEvent('close')
  }
}

class LazyTransportImpl<C> implements LazyTransport {
  readonly [transportSymbol] = true as const
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport']
  readonly [Symbol.toStringTag]: string = ''
  /** Never stopped: a transport lives as long as its host, which makes a new one when it is replaced. */
  private readonly real: OnceRetry<Transport, []>

  constructor (components: C, private readonly init: LazyTransportInit<C>) {
    this[Symbol.toStringTag] = init.tag
    this.real = onceRetry(async () => (await init.load())(components), () => new NotStartedError(`${init.tag}: stopped`))
  }

  get loaded (): boolean {
    return this.real.value != null
  }

  async dial (ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    const real = await this.real.get()
    options.signal?.throwIfAborted()
    return await real.dial(ma, options)
  }

  createListener (options: CreateListenerOptions): Listener {
    return new LazyListener(this.real.get, options)
  }

  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.init.filter(multiaddrs)
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.init.filter(multiaddrs)
  }
}

/** A transport factory for `Libp2pOptions.transports` that loads the real transport on first use. */
export function lazyTransport<C> (init: LazyTransportInit<C>): (components: C) => LazyTransport {
  return (components) => new LazyTransportImpl(components, init)
}

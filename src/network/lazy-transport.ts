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
  private real: Listener | undefined
  private making: Promise<Listener> | undefined
  private closed = false

  constructor (private readonly transport: () => Promise<Transport>, private readonly options: CreateListenerOptions) {
    super()
  }

  private async make (): Promise<Listener> {
    this.making ??= this.transport().then(t => {
      const real = t.createListener(this.options)
      for (const name of EVENTS) {
        real.addEventListener(name, (e) => { this.safeDispatchEvent(name, { detail: (e as CustomEvent).detail }) })
      }
      this.real = real
      return real
    }).catch((err: unknown) => {
      this.making = undefined
      throw err
    })
    return await this.making
  }

  async listen (ma: Multiaddr): Promise<void> {
    const real = await this.make()
    // closed while the module loaded: the real listener was never started, nothing to undo
    if (this.closed) return
    await real.listen(ma)
  }

  getAddrs (): Multiaddr[] {
    return this.real?.getAddrs() ?? []
  }

  updateAnnounceAddrs (addrs: Multiaddr[]): void {
    this.real?.updateAnnounceAddrs(addrs)
  }

  async close (): Promise<void> {
    this.closed = true
    if (this.real != null) { await this.real.close(); return }
    this.safeDispatchEvent('close')
  }
}

class LazyTransportImpl<C> implements LazyTransport {
  readonly [transportSymbol] = true as const
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport']
  readonly [Symbol.toStringTag]: string = ''
  private real: Transport | undefined
  private loading: Promise<Transport> | undefined

  constructor (private readonly components: C, private readonly init: LazyTransportInit<C>) {
    this[Symbol.toStringTag] = init.tag
  }

  get loaded (): boolean {
    return this.real != null
  }

  private async load (): Promise<Transport> {
    this.loading ??= this.init.load().then(factory => {
      this.real = factory(this.components)
      return this.real
    }).catch((err: unknown) => {
      this.loading = undefined
      throw err
    })
    return await this.loading
  }

  async dial (ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    const real = await this.load()
    options.signal?.throwIfAborted()
    return await real.dial(ma, options)
  }

  createListener (options: CreateListenerOptions): Listener {
    return new LazyListener(async () => await this.load(), options)
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

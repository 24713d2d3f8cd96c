/**
 * Loading a feature's code on first use (issue 10: an idle daemon that is in no VPN should not hold
 * the VPN's code). A feature that answers peers must still answer them before it is loaded: its
 * protocols are registered at start with stand-in handlers that load the feature on the first
 * stream and hand that stream to the handler the feature then registers. The feature is created
 * on a view of the network (`network`) whose `handle`/`unhandle` of those protocols replace the
 * stand-in's target instead of registering twice, so the node advertises the same protocols with
 * the same options before and after the load, and nothing a peer sends is lost.
 */
import type { AbortOptions, Connection, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import { NotStartedError } from '../../errors.js'
import type { Network } from '../../network/types.js'
import { onceRetry } from '../../util/once-retry.js'

export interface ProtocolStandIns {
  /** The network to create the feature on (everything else passes through unchanged). */
  readonly network: Network
  /** Registers the stand-in handlers. */
  start: () => Promise<void>
  /** Unregisters every protocol still registered through here. */
  stop: () => Promise<void>
}

const sameOptions = (a: StreamHandlerOptions | undefined, b: StreamHandlerOptions | undefined): boolean =>
  JSON.stringify(a ?? {}) === JSON.stringify(b ?? {})

/**
 * `protocols`: what the feature registers, with its options (used until the feature registers its
 * own; different options then re-register the protocol with the feature's). `load` loads and
 * creates the feature, which registers its handlers through `network`; it is called once per
 * stream that arrives before then, so it must be idempotent (share one promise).
 */
export function protocolStandIns (network: Network, protocols: Readonly<Record<string, StreamHandlerOptions>>, load: () => Promise<void>): ProtocolStandIns {
  /** protocol -> the options it is registered with on the real network (through `forward`) */
  const registered = new Map<string, StreamHandlerOptions | undefined>()
  /** protocol -> the feature's own handler */
  const targets = new Map<string, StreamHandler>()

  const forward = (protocol: string): StreamHandler => (stream: Stream, conn: Connection) => {
    const target = targets.get(protocol)
    if (target != null) return target(stream, conn)
    return load().then(async () => {
      const loaded = targets.get(protocol)
      if (loaded == null) throw new Error(`${protocol}: no handler after loading the feature`)
      await loaded(stream, conn)
    }).catch((err: Error) => { stream.abort(err) })
  }

  async function register (protocol: string, options: StreamHandlerOptions | undefined): Promise<void> {
    await network.handle(protocol, forward(protocol), options)
    registered.set(protocol, options)
  }

  async function release (protocol: string): Promise<void> {
    if (!registered.delete(protocol)) return
    await network.unhandle(protocol)
  }

  const view = new Proxy(network, {
    get (target, key) {
      if (key === 'handle') {
        return async (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void> => {
          if (!(protocol in protocols)) { await network.handle(protocol, handler, options); return }
          if (registered.has(protocol) && !sameOptions(registered.get(protocol), options)) await release(protocol)
          targets.set(protocol, handler)
          if (registered.has(protocol)) return
          try {
            await register(protocol, options)
          } catch (err) {
            targets.delete(protocol)
            throw err
          }
        }
      }
      if (key === 'unhandle') {
        return async (protocol: string): Promise<void> => {
          if (!(protocol in protocols)) { await network.unhandle(protocol); return }
          targets.delete(protocol)
          await release(protocol)
        }
      }
      const v: unknown = Reflect.get(target, key, target)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })

  return {
    network: view,
    async start () {
      for (const [protocol, options] of Object.entries(protocols)) {
        if (!registered.has(protocol)) await register(protocol, options)
      }
    },
    async stop () {
      for (const protocol of [...registered.keys()]) await release(protocol).catch(() => {})
      targets.clear()
    }
  }
}

export interface FeatureLoader<T> {
  /** Loads and creates the feature once; concurrent callers share the load, a failed load is tried again by the next. */
  load: (options?: AbortOptions) => Promise<T>
  /** The feature once loaded. */
  readonly loaded: T | undefined
  /** No load starts after this; returns the feature if one was loaded (or loading: waited for). */
  stop: () => Promise<T | undefined>
}

/** One load of a feature's code, refused once the module stopped (a stream may slip in while the node stops). */
export function featureLoader<T> (name: string, make: (options?: AbortOptions) => Promise<T>): FeatureLoader<T> {
  const once = onceRetry<T, [options?: AbortOptions]>(make, () => new NotStartedError(`the ${name} module has stopped`))
  return {
    get loaded () { return once.value },
    load: once.get,
    stop: once.stop
  }
}

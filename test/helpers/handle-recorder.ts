/**
 * A view of a `Network` that records the protocols a feature registers (with their options)
 * instead of registering them: what test/daemon/*-lazy.spec.ts compare a feature's stand-ins with.
 */
import type { StreamHandlerOptions } from '@libp2p/interface'
import type { Network } from '../../src/network/types.js'

export function recordHandles (net: Network): { net: Network, registered: Record<string, StreamHandlerOptions | undefined> } {
  const registered: Record<string, StreamHandlerOptions | undefined> = {}
  const view = new Proxy(net, {
    get (target, key) {
      if (key === 'handle') return async (p: string, _h: unknown, o?: StreamHandlerOptions) => { registered[p] = o }
      if (key === 'unhandle') return async () => {}
      const v: unknown = Reflect.get(target, key, target)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
  return { net: view, registered }
}

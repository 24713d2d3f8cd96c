/**
 * The VPN plug-in, loaded on demand (issue 10): a node in no VPN does not load the VPN's code
 * (src/vpn, the TUN and netdev layers, vpn-impl.ts). From the start it advertises the VPN's two
 * protocols through stand-ins (lazy.ts) and offers the `vpn.*` control methods; the first
 * invitation or other VPN stream, the first `vpn.*` call, or a saved membership at start
 * (`<dataDir>/vpn/state.json`) loads vpn-impl.ts, creates the `Vpn` and resumes it, as the module
 * did at start before. Until then `dmsnet status` shows the state a new `Vpn` has (`idle`).
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { StreamHandlerOptions } from '@libp2p/interface'
import { vpn as api } from '../../control/catalogue/index.js'
import { createMethodRegistry, type MethodRegistry, type UnaryHandler } from '../../control/registry.js'
import type { MethodSpec } from '../../control/spec.js'
import type { z } from 'zod'
import type { Vpn } from '../../vpn/vpn.js'
import type { ModuleFactory, NodeModule } from '../module.js'
import { featureLoader, protocolStandIns } from './lazy.js'

/**
 * What `Vpn.start` registers (src/vpn/vpn.ts `init`: the data protocol with offloads, the control
 * protocol), with its options. test/daemon/vpn-lazy.spec.ts checks this against a loaded VPN.
 */
export const VPN_PROTOCOLS: Readonly<Record<string, StreamHandlerOptions>> = {
  '/dmsnet/vpn/1.0.0/vnet': { runOnLimitedConnection: true, maxInboundStreams: 4, maxOutboundStreams: 4 },
  '/dmsnet/vpn/ctl/1.0.0': { runOnLimitedConnection: true, maxInboundStreams: 16 }
}

/** Where the VPN keeps the membership it resumes (src/vpn/state-store.ts; checked by the same test). */
export const vpnStateFile = (dataDir: string): string => join(dataDir, 'vpn', 'state.json')

export interface VpnModule extends NodeModule {
  /** The VPN once its code is loaded. */
  readonly vpn: Vpn | undefined
}

type UnarySpec = MethodSpec<string, z.ZodType, z.ZodType, 'unary'>
const methods = Object.values(api as Record<string, MethodSpec>).filter((m): m is UnarySpec => m.kind === 'unary')

export const vpnModule: ModuleFactory = (components) => {
  const log = components.logger('vpn')
  // the loaded VPN's control methods: its own registry, which the stand-in methods call into
  const loadedMethods = createMethodRegistry()
  let unregister: Array<() => void> = []
  const loader = featureLoader('VPN', async (options) => {
    const impl = await import('./vpn-impl.js')
    const v = await impl.createNodeVpn(components, standIns.network)
    // Resume a saved membership (and register the protocols); a failure (no root, no TUN) must not stop the daemon.
    try {
      await v.start(undefined, options)
    } catch (err) {
      log.warn({ err }, 'could not resume the VPN')
    }
    impl.registerVpnControl(loadedMethods, v)
    log.debug('VPN loaded')
    return v
  })

  const standIns = protocolStandIns(components.network, VPN_PROTOCOLS, async () => { await loader.load() })

  const mod: VpnModule = {
    name: 'vpn',
    get vpn () { return loader.loaded },
    start: async (options) => {
      await standIns.start()
      if (existsSync(vpnStateFile(components.config.dataDir))) await loader.load(options)
    },
    stop: async () => {
      for (const u of unregister) u()
      unregister = []
      await (await loader.stop())?.stop().catch(() => {})
      await standIns.stop()
    },
    registerControl: (registry: MethodRegistry) => {
      unregister = methods.map(spec => registry.implement(spec, async (params, ctx) => {
        await loader.load()
        const handler = loadedMethods.get(spec.name).handler as UnaryHandler<typeof spec>
        return await handler(params, ctx)
      }))
    },
    status: () => {
      const vpn = loader.loaded
      if (vpn == null) return { state: 'idle', ipv4: null, members: 0, authority: false }
      const s = vpn.status()
      return { state: s.state, ipv4: s.ipv4 ?? null, members: s.peers.length, authority: s.isAuthority }
    }
  }
  return mod
}

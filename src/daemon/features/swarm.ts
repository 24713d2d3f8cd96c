/**
 * The swarm plug-in, loaded on demand (issue 10): a node in no swarm does not load the managed
 * swarm's code (src/swarm: roles, key protocol, invites, key service; swarm-impl.ts). From the
 * start it advertises the swarm key protocol through a stand-in (lazy.ts), offers the `swarm.*`
 * control methods and exports the `dmsnet_swarm_*` gauges; the first key-protocol stream, the first
 * `swarm.*` call other than `swarm.status`, or a saved state at start (`swarm.stateFile`) loads
 * swarm-impl.ts, creates the `SwarmManager` and starts it, as the module did at start before.
 * Until then `swarm.status`, `dmsnet status` and the gauges show what a manager with no state
 * shows (idleSwarmStatus).
 */
import { existsSync } from 'node:fs'
import type { StreamHandlerOptions } from '@libp2p/interface'
import { Gauge } from 'prom-client'
import type { z } from 'zod'
import { swarm as api } from '../../control/catalogue/index.js'
import { createMethodRegistry, type MethodRegistry, type UnaryHandler } from '../../control/registry.js'
import type { MethodSpec } from '../../control/spec.js'
import type { SwarmManager, SwarmStatus } from '../../swarm/swarm.js'
import type { ModuleFactory, NodeComponents, NodeModule } from '../module.js'
import { featureLoader, protocolStandIns } from './lazy.js'

/**
 * What `SwarmManager.start` registers (src/swarm/swarm.ts, SWARM_KEY_PROTOCOL from wire.ts), with
 * its options. test/daemon/swarm-lazy.spec.ts checks this against a loaded swarm.
 */
export const SWARM_PROTOCOLS: Readonly<Record<string, StreamHandlerOptions>> = {
  '/dmsnet/swarm/key/1.0.0': { maxInboundStreams: 32 }
}

/** What a swarm manager with no saved state reports (the same test checks it against a real one). */
export function idleSwarmStatus (profile: string): SwarmStatus {
  return {
    joined: false,
    profile,
    authorised: [],
    connected: [],
    bootstrap: [],
    keyService: [],
    refused: 0,
    invites: 0,
    foreignMessages: 0,
    protocolFailures: { malformed: 0, oversized: 0, timeout: 0, closed: 0 }
  }
}

export interface SwarmModule extends NodeModule {
  /** The swarm manager once its code is loaded. */
  readonly swarm: SwarmManager | undefined
}

type UnarySpec = MethodSpec<string, z.ZodType, z.ZodType, 'unary'>
const methods = Object.values(api as Record<string, MethodSpec>).filter((m): m is UnarySpec => m.kind === 'unary')

/** The `dmsnet_swarm_*` gauges, read from `status` (the loaded manager's, or the idle one). */
function swarmGauges (components: NodeComponents, status: () => SwarmStatus): void {
  const gauges: Array<[string, string, () => number]> = [
    ['dmsnet_swarm_epoch', 'key epoch of the swarm this node is in (0 when on the public network)', () => { const st = status(); return st.joined ? st.epoch ?? 0 : 0 }],
    ['dmsnet_swarm_connected_members', 'authorised swarm peers (and the creator) this node is connected to', () => status().connected.length],
    ['dmsnet_swarm_key_requests_refused', 'creator: key requests refused since start (unauthorised peer, bad invite, unknown swarm)', () => status().refused],
    // hostile-peer bounds (docs/swarm.md)
    ['dmsnet_swarm_key_service_refused_connections', 'creator: key-service connections refused by the per-address limit', () => status().keyServiceStats?.refusedConnections ?? 0],
    ['dmsnet_swarm_foreign_messages', 'creator-only swarm messages refused because another peer sent them', () => status().foreignMessages],
    ['dmsnet_swarm_membership_fresh', 'member: 1 while a fresh creator-signed membership statement is held (other members admitted)', () => status().membershipFresh === true ? 1 : 0]
  ]
  for (const [name, help, read] of gauges) new Gauge({ name, help, registers: [components.metrics], collect () { this.set(read()) } })
  new Gauge({
    name: 'dmsnet_swarm_key_protocol_failures',
    help: 'key-protocol streams that ended without a reply, by kind (malformed, oversized, timeout, closed)',
    labelNames: ['kind'],
    registers: [components.metrics],
    collect () { for (const [kind, n] of Object.entries(status().protocolFailures ?? {})) this.set({ kind }, n) }
  })
}

export const swarmModule: ModuleFactory = (components) => {
  // the loaded swarm's control methods: its own registry, which the stand-in methods call into
  const loadedMethods = createMethodRegistry()
  let unregister: Array<() => void> = []
  const loader = featureLoader('swarm', async (options) => {
    const impl = await import('./swarm-impl.js')
    const s = await impl.createNodeSwarm(components, standIns.network)
    // registers the key protocol (through the view: the stand-in hands over) and rejoins a saved swarm
    await s.start(options)
    impl.registerSwarmControl(loadedMethods, s)
    components.logger('swarm').debug('swarm loaded')
    return s
  })
  const standIns = protocolStandIns(components.network, SWARM_PROTOCOLS, async () => { await loader.load() })
  const status = (): SwarmStatus => loader.loaded?.status() ?? idleSwarmStatus(components.network.profile.name)
  swarmGauges(components, status)

  const mod: SwarmModule = {
    name: 'swarm',
    get swarm () { return loader.loaded },
    start: async (options) => {
      await standIns.start()
      // a saved swarm (created, joined or left) is resumed at start, as before
      if (existsSync(components.config.swarm.stateFile)) await loader.load(options)
    },
    stop: async () => {
      for (const u of unregister) u()
      unregister = []
      await (await loader.stop())?.stop()
      await standIns.stop()
    },
    registerControl: (registry: MethodRegistry) => {
      unregister = methods.map(spec => registry.implement(spec, async (params, ctx) => {
        // the status of a node in no swarm needs no swarm code
        if (loader.loaded == null && spec.name === api.status.name) return status()
        await loader.load()
        const handler = loadedMethods.get(spec.name).handler as UnaryHandler<typeof spec>
        return await handler(params, ctx)
      }))
    },
    status: () => {
      const s = status()
      return { name: s.name ?? null, role: s.role ?? null, joined: s.joined, epoch: s.epoch ?? null, profile: s.profile, authorised: s.authorised.length, connected: s.connected.length }
    }
  }
  return mod
}

/**
 * The swarm plug-in: a `SwarmManager` on the node's network and identity, and its control methods
 * (`swarm.*`, declared in src/control/catalogue/swarm.ts) for the CLI (`dmsnet swarm ...`). No
 * method returns the swarm key.
 */
import { Gauge } from 'prom-client'
import { createSwarmManager, type SwarmManager } from '../../swarm/swarm.js'
import type { MethodRegistry } from '../../control/registry.js'
import { swarm as api } from '../../control/catalogue/index.js'
import type { ModuleFactory, NodeModule } from '../module.js'

export function registerSwarmControl (registry: MethodRegistry, swarm: SwarmManager): Array<() => void> {
  return [
    registry.implement(api.create, async (p, { signal }) => await swarm.create(p.name, p.authorised, { signal })),
    registry.implement(api.authorize, async (p, { signal }) => { await swarm.authorize(p.peer, { signal }); return swarm.status() }),
    registry.implement(api.revoke, async (p, { signal }) => { await swarm.revoke(p.peer, { signal, rotate: p.rotate }); return swarm.status() }),
    registry.implement(api.invite, async (p, { signal }) => ({ token: await swarm.invite({ signal, ...(p.ttlMs != null ? { ttlMs: p.ttlMs } : {}) }) })),
    registry.implement(api.join, async (p, { signal }) => await swarm.join(p.name != null && p.target.startsWith('/') ? { creator: p.target, name: p.name } : p.target, { signal })),
    registry.implement(api.leave, async (_p, { signal }) => { await swarm.leave({ signal }); return swarm.status() }),
    registry.implement(api.rotate, async (_p, { signal }) => await swarm.rotate({ signal })),
    registry.implement(api.status, () => swarm.status())
  ]
}

export const swarmModule: ModuleFactory = async (components) => {
  const { config, network } = components
  const swarm = await createSwarmManager({ network, config, privateKey: components.privateKey, logger: components.logger('swarm') })
  new Gauge({
    name: 'dmsnet_swarm_epoch',
    help: 'key epoch of the swarm this node is in (0 when on the public network)',
    registers: [components.metrics],
    collect () { const st = swarm.status(); this.set(st.joined ? st.epoch ?? 0 : 0) }
  })
  new Gauge({
    name: 'dmsnet_swarm_connected_members',
    help: 'authorised swarm peers (and the creator) this node is connected to',
    registers: [components.metrics],
    collect () { this.set(swarm.status().connected.length) }
  })
  new Gauge({
    name: 'dmsnet_swarm_key_requests_refused',
    help: 'creator: key requests refused since start (unauthorised peer, bad invite, unknown swarm)',
    registers: [components.metrics],
    collect () { this.set(swarm.status().refused) }
  })
  // hostile-peer bounds (docs/swarm.md)
  const gauges: Array<[string, string, () => number]> = [
    ['dmsnet_swarm_key_service_refused_connections', 'creator: key-service connections refused by the per-address limit', () => swarm.status().keyServiceStats?.refusedConnections ?? 0],
    ['dmsnet_swarm_foreign_messages', 'creator-only swarm messages refused because another peer sent them', () => swarm.status().foreignMessages],
    ['dmsnet_swarm_membership_fresh', 'member: 1 while a fresh creator-signed membership statement is held (other members admitted)', () => swarm.status().membershipFresh === true ? 1 : 0]
  ]
  for (const [name, help, read] of gauges) new Gauge({ name, help, registers: [components.metrics], collect () { this.set(read()) } })
  new Gauge({
    name: 'dmsnet_swarm_key_protocol_failures',
    help: 'key-protocol streams that ended without a reply, by kind (malformed, oversized, timeout, closed)',
    labelNames: ['kind'],
    registers: [components.metrics],
    collect () { for (const [kind, n] of Object.entries(swarm.status().protocolFailures ?? {})) this.set({ kind }, n) }
  })
  let unregister: Array<() => void> = []
  const mod: NodeModule & { swarm: SwarmManager } = {
    name: 'swarm',
    swarm,
    start: async (options) => { await swarm.start(options) },
    stop: async () => {
      for (const u of unregister) u()
      unregister = []
      await swarm.stop()
    },
    registerControl: (registry) => { unregister = registerSwarmControl(registry, swarm) },
    status: () => {
      const s = swarm.status()
      return { name: s.name ?? null, role: s.role ?? null, joined: s.joined, epoch: s.epoch ?? null, profile: s.profile, authorised: s.authorised.length, connected: s.connected.length }
    }
  }
  return mod
}

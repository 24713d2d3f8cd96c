/**
 * The swarm module for the daemon: a `SwarmManager` on the node's network and identity, and its
 * control methods (`swarm.*`) for the CLI (`dmsnet swarm ...`). No method returns the swarm key.
 */
import { Gauge } from 'prom-client'
import { z } from 'zod'
import { loadOrCreateIdentity } from '../network/identity.js'
import { createSwarmManager, type SwarmManager } from './swarm.js'
import type { MethodRegistry } from '../control/registry.js'
import type { ModuleFactory, NodeModule } from '../daemon/module.js'

export function registerSwarmControl (registry: MethodRegistry, swarm: SwarmManager): Array<() => void> {
  const off: Array<() => void> = []
  off.push(registry.register('swarm.create', {
    description: 'create a private swarm (this node is its creator and bootstrap node) and enter it',
    params: z.object({ name: z.string().min(1), authorised: z.array(z.string().min(1)).default([]) }),
    handler: async (p, { signal }) => await swarm.create(p.name, p.authorised, { signal })
  }))
  off.push(registry.register('swarm.authorize', {
    description: 'authorise a peer id in the swarm (creator)',
    params: z.object({ peer: z.string().min(1) }),
    handler: async (p, { signal }) => { await swarm.authorize(p.peer, { signal }); return swarm.status() }
  }))
  off.push(registry.register('swarm.revoke', {
    description: 'revoke a peer id and (by default) rotate the key (creator)',
    params: z.object({ peer: z.string().min(1), rotate: z.boolean().default(true) }),
    handler: async (p, { signal }) => { await swarm.revoke(p.peer, { signal, rotate: p.rotate }); return swarm.status() }
  }))
  off.push(registry.register('swarm.invite', {
    description: 'a one-time invite token for one new member (creator)',
    params: z.object({ ttlMs: z.number().int().positive().max(30 * 24 * 3600 * 1000).optional() }),
    handler: async (p, { signal }) => ({ token: await swarm.invite({ signal, ...(p.ttlMs != null ? { ttlMs: p.ttlMs } : {}) }) })
  }))
  off.push(registry.register('swarm.join', {
    description: 'join a swarm: invite token, creator key-service multiaddr, or the name of a known swarm',
    params: z.object({ target: z.string().min(1), name: z.string().min(1).optional() }),
    handler: async (p, { signal }) => await swarm.join(p.name != null && p.target.startsWith('/') ? { creator: p.target, name: p.name } : p.target, { signal })
  }))
  off.push(registry.register('swarm.leave', {
    description: 'leave the swarm and return to the public network',
    handler: async (_p, { signal }) => { await swarm.leave({ signal }); return swarm.status() }
  }))
  off.push(registry.register('swarm.rotate', {
    description: 'new key epoch pushed to the members, then everyone switches (creator)',
    handler: async (_p, { signal }) => await swarm.rotate({ signal })
  }))
  off.push(registry.register('swarm.status', {
    description: 'swarm membership, epoch, role, authorised and connected peers',
    handler: () => swarm.status()
  }))
  return off
}

export const swarmModule: ModuleFactory = async (components) => {
  const { config, network } = components
  const identity = await loadOrCreateIdentity(config.network.identityFile)
  const swarm = await createSwarmManager({ network, config, privateKey: identity.privateKey, logger: components.logger('swarm') })
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

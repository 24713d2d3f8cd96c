/**
 * The swarm plug-in's code (loaded on demand by features/swarm.ts, issue 10): the `SwarmManager` on
 * the node's network and identity, and its control methods (`swarm.*`, declared in
 * src/control/catalogue/swarm.ts) for the CLI (`dmsnet swarm ...`). No method returns the swarm key.
 */
import { createSwarmManager, type SwarmManager } from '../../swarm/swarm.js'
import type { MethodRegistry } from '../../control/registry.js'
import { swarm as api } from '../../control/catalogue/index.js'
import type { NodeComponents } from '../module.js'
import type { Network } from '../../network/types.js'

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

/** The node's `SwarmManager` (not started), on `network` (the stand-ins' view, features/lazy.ts). */
export async function createNodeSwarm (components: NodeComponents, network: Network): Promise<SwarmManager> {
  return await createSwarmManager({ network, config: components.config, privateKey: components.privateKey, logger: components.logger('swarm') })
}

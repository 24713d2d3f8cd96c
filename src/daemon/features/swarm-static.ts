/**
 * The plug-in that stands in for the managed swarm one when `swarm.keyFile` is set (a static
 * private network, src/swarm/static.ts): `swarm.status` shows the static network, and the
 * managed methods (create, invite, join, ...) answer SwarmStateError.
 */
import type { MethodRegistry } from '../../control/registry.js'
import { swarm as api } from '../../control/catalogue/index.js'
import type { Network } from '../../network/types.js'
import { SwarmStateError } from '../../swarm/errors.js'
import { staticSwarmStatus, type StaticSwarm } from '../../swarm/static.js'
import type { ModuleFactory, NodeModule } from '../module.js'

const MANAGED = [api.create, api.authorize, api.revoke, api.invite, api.join, api.leave, api.rotate]

function registerStaticControl (registry: MethodRegistry, s: StaticSwarm, network: Network): Array<() => void> {
  const off = [registry.implement(api.status, () => staticSwarmStatus(s, network))]
  for (const spec of MANAGED) {
    off.push(registry.implement(spec, () => {
      throw new SwarmStateError(`${spec.name} is for managed swarms; this node runs a static private network from ${s.keyFile} (remove swarm.keyFile to use a managed swarm)`)
    }))
  }
  return off
}

/** The daemon module that stands in for the managed swarm module when `swarm.keyFile` is set. */
export function staticSwarmModule (s: StaticSwarm): ModuleFactory {
  return (components) => {
    let unregister: Array<() => void> = []
    const mod: NodeModule = {
      name: 'swarm',
      registerControl: (registry) => { unregister = registerStaticControl(registry, s, components.network) },
      stop: async () => { for (const u of unregister) u(); unregister = [] },
      status: () => {
        const st = staticSwarmStatus(s, components.network)
        return { mode: st.mode, name: st.name, joined: true, profile: st.profile, fingerprint: st.fingerprint, allow: st.allow.length, connected: st.connected.length }
      }
    }
    return mod
  }
}

/**
 * The VPN module for the daemon: a `Vpn` on the node's network, resumed at start from the
 * persisted membership, and its control methods (`vpn.*`) for the CLI (`dmsnet vpn ...`).
 */
import { execFile } from 'node:child_process'
import { isIP } from 'node:net'
import { z } from 'zod'
import { InvalidArgumentError } from '../errors.js'
import { createVpn, type Vpn } from './vpn.js'
import { netdevTunFactory } from './tun-device.js'
import { VpnNotRunningError } from './errors.js'
import { registerJobControl } from './job-control.js'
import type { MethodRegistry } from '../control/registry.js'
import type { ModuleFactory, NodeModule } from '../daemon/module.js'

const peerSpec = z.object({
  peerId: z.string().min(1),
  name: z.string().min(1).max(63).optional(),
  routes: z.array(z.string().min(1)).max(64).optional(),
  addrs: z.array(z.string().min(1)).max(32).optional()
})

/** Resolves a peer id, member name or address to a VPN address. */
function targetAddress (vpn: Vpn, target: string): string {
  if (isIP(target) !== 0) return target
  const m = vpn.membership()?.members.find(x => x.peerId === target || x.name === target || `${x.name}.${vpn.membership()?.domain}` === target)
  if (m == null) throw new InvalidArgumentError(`no VPN member ${target}`)
  return m.ipv4
}

/** Runs the system ping to a VPN address and returns the round trips in ms. */
async function systemPing (addr: string, count: number, signal: AbortSignal): Promise<number[]> {
  return await new Promise((resolve, reject) => {
    execFile('ping', ['-c', String(count), '-i', '0.2', '-W', '2', addr], { signal, timeout: (count * 3 + 5) * 1000 }, (err, stdout) => {
      const rtts = [...stdout.matchAll(/time=([\d.]+) ms/g)].map(m => Number(m[1]))
      if (rtts.length === 0 && err != null) reject(new VpnNotRunningError(`no reply from ${addr}`))
      else resolve(rtts)
    })
  })
}

export function registerVpnControl (registry: MethodRegistry, vpn: Vpn): Array<() => void> {
  const off: Array<() => void> = []
  off.push(registry.register('vpn.up', {
    description: 'start the VPN with these peers (this node becomes its authority), or resume the saved one',
    params: z.object({ peers: z.array(peerSpec).max(4096).optional() }),
    handler: async (p, { signal }) => await vpn.start(p.peers, { signal })
  }))
  off.push(registry.register('vpn.add', {
    description: 'add a peer to the VPN (authority)',
    params: z.object({ peer: peerSpec }),
    handler: async (p, { signal }) => await vpn.addPeer(p.peer, { signal })
  }))
  off.push(registry.register('vpn.remove', {
    description: 'remove a peer from the VPN; it loses access at once (authority)',
    params: z.object({ peerId: z.string().min(1) }),
    handler: async (p, { signal }) => { await vpn.removePeer(p.peerId, { signal }); return vpn.status() }
  }))
  off.push(registry.register('vpn.down', {
    description: 'take the VPN down on this node; forget also drops the saved membership (and dissolves the VPN on its authority)',
    params: z.object({ forget: z.boolean().default(false) }),
    handler: async (p, { signal }) => { await vpn.stop({ signal, forget: p.forget }); return vpn.status() }
  }))
  off.push(registry.register('vpn.status', {
    description: 'VPN members with address, path (direct/relayed), bytes and drops',
    handler: () => vpn.status()
  }))
  off.push(registry.register('vpn.ping', {
    description: 'ping a member over the VPN (peer id, name or address)',
    params: z.object({ target: z.string().min(1), count: z.number().int().min(1).max(100).default(3) }),
    handler: async (p, { signal }) => {
      const addr = targetAddress(vpn, p.target)
      return { address: addr, rtts: await systemPing(addr, p.count, signal) }
    }
  }))
  // attach/detach/map-port/unmap-port/ports, with their input checks: job-control.ts
  off.push(...registerJobControl(registry, vpn))
  return off
}

/** The invitation rule: a listed peer (or `*`), or a member of the private swarm we are in. */
export function acceptsInvite (acceptFrom: readonly string[], swarmMembers: ReadonlySet<string> | undefined, authority: string): boolean {
  if (acceptFrom.includes('*') || acceptFrom.includes(authority)) return true
  return swarmMembers?.has(authority) === true
}

export const vpnModule: ModuleFactory = async (components) => {
  const { config, network } = components
  const log = components.logger('vpn')
  const vpn = await createVpn({
    network,
    config: { ...config.vpn, dataDir: config.dataDir },
    tun: netdevTunFactory(),
    logger: log,
    metrics: components.metrics,
    // the name this node gives itself when it starts a VPN (members get theirs from the authority)
    ...(config.vpn.name !== '' ? { name: config.vpn.name } : {}),
    // Joining a VPN creates a device and routes on this host, so the default is strict: members
    // of the private swarm we are in, plus whoever `vpn.acceptInvitesFrom` names (docs/vpn.md, "Trust and policy").
    acceptInvite: (authority) => acceptsInvite(config.vpn.acceptInvitesFrom, network.profile.allowPeers, authority)
  })
  let unregister: Array<() => void> = []
  const mod: NodeModule & { vpn: Vpn } = {
    name: 'vpn',
    vpn,
    start: async (options) => {
      // Resume a saved membership; a failure (no root, no TUN) must not stop the daemon.
      try {
        await vpn.start(undefined, options)
      } catch (err) {
        log.warn({ err }, 'could not resume the VPN')
      }
    },
    stop: async () => {
      for (const u of unregister) u()
      unregister = []
      await vpn.stop().catch(() => {})
    },
    registerControl: (registry) => { unregister = registerVpnControl(registry, vpn) },
    status: () => {
      const s = vpn.status()
      return { state: s.state, ipv4: s.ipv4 ?? null, members: s.peers.length, authority: s.isAuthority }
    }
  }
  return mod
}

/**
 * The VPN plug-in's code (loaded on demand by features/vpn.ts, issue 10): creating the `Vpn` on the
 * node's network, and its control methods (`vpn.*`, declared in src/control/catalogue/vpn.ts) for
 * the CLI (`dmsnet vpn ...`).
 */
import { execFile } from 'node:child_process'
import { isIP } from 'node:net'
import { InvalidArgumentError } from '../../errors.js'
import { createVpn, type Vpn } from '../../vpn/vpn.js'
import { netdevTunFactory } from '../../vpn/tun-device.js'
import { VpnNotRunningError } from '../../vpn/errors.js'
import { acceptsInvite } from '../../vpn/accept-invite.js'
import { registerJobControl } from './vpn-jobs.js'
import type { MethodRegistry } from '../../control/registry.js'
import { vpn as api } from '../../control/catalogue/index.js'
import type { NodeComponents } from '../module.js'
import type { Network } from '../../network/types.js'

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
  return [
    registry.implement(api.up, async (p, { signal }) => await vpn.start(p.peers, { signal })),
    registry.implement(api.add, async (p, { signal }) => await vpn.addPeer(p.peer, { signal })),
    registry.implement(api.remove, async (p, { signal }) => { await vpn.removePeer(p.peerId, { signal }); return vpn.status() }),
    registry.implement(api.down, async (p, { signal }) => { await vpn.stop({ signal, forget: p.forget }); return vpn.status() }),
    registry.implement(api.status, () => vpn.status()),
    registry.implement(api.ping, async (p, { signal }) => {
      const addr = targetAddress(vpn, p.target)
      return { address: addr, rtts: await systemPing(addr, p.count, signal) }
    }),
    // attach/detach/map-port/unmap-port/ports, with their input checks: vpn-jobs.ts
    ...registerJobControl(registry, vpn)
  ]
}

/** The node's `Vpn` (not started: features/vpn.ts resumes a saved membership), on `network`. */
export async function createNodeVpn (components: NodeComponents, network: Network): Promise<Vpn> {
  const { config } = components
  return await createVpn({
    network,
    config: { ...config.vpn, dataDir: config.dataDir },
    tun: netdevTunFactory({ log: components.logger('vpn') }),
    logger: components.logger('vpn'),
    metrics: components.metrics,
    // the name this node gives itself when it starts a VPN (members get theirs from the authority)
    ...(config.vpn.name !== '' ? { name: config.vpn.name } : {}),
    // Joining a VPN creates a device and routes on this host, so the default is strict: members
    // of the private swarm we are in, plus whoever `vpn.acceptInvitesFrom` names (docs/vpn.md, "Trust and policy").
    acceptInvite: (authority) => acceptsInvite(config.vpn.acceptInvitesFrom, network.profile.allowPeers, authority)
  })
}

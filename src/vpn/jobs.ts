/**
 * Job namespaces on the VPN: a job's network namespace joins a bridge in the node's namespace
 * through a veth pair and reaches the other members' VPN addresses; its outgoing VPN traffic is
 * masqueraded to this node's VPN address (so members need no route to the job subnet and the
 * anti-spoofing rule holds). Ports of a job can be exposed on this node's VPN address (DNAT).
 *
 * Everything firewall-side lives in one nftables table of our own (src/netdev firewall), removed
 * as a whole on `close`; veths and the bridge are deleted too.
 */
import { createBridge, type Bridge } from '../netdev/bridge.js'
import { ip } from '../netdev/exec.js'
import { createFirewall, type Firewall } from '../netdev/firewall.js'
import { deleteLink } from '../netdev/link.js'
import { createVeth, type Veth } from '../netdev/veth.js'
import { InvalidArgumentError } from '../errors.js'
import { formatIPv4, parseCidr, type Cidr4 } from './ip.js'
import { createSysctlGuard } from './sysctl.js'
import { suggestCongestionControl } from './tun-device.js'
import type { AbortOptions } from '@libp2p/interface'

export interface JobAttachment {
  netns: string
  /** The job's address on the bridge subnet. */
  address: string
  gateway: string
  hostInterface: string
}

export interface PortMappingInfo {
  id: string
  protocol: 'tcp' | 'udp'
  port: number
  target: string
}

export interface JobNetworkOptions {
  /** Bridge subnet for job namespaces (IPv4, /16 to /29); default 10.250.0.0/24. */
  subnet?: string
  /** Short unique token for interface names (<= 6 chars); default derived from the pid. */
  tag?: string
  /** The VPN device (masquerade out of it, DNAT on it). */
  tunName: () => string | undefined
  /** This node's VPN IPv4 address. */
  vpnAddress: () => string | undefined
  /** VPN prefix (what job namespaces route to the bridge). */
  vpnCidr: () => string | undefined
  /** `congctl` on a job namespace's route to the VPN prefix, as on the VPN device's (tun-device.ts); '' = none. */
  congestionControl?: string
}

export interface JobNetwork {
  attach (netns: string, options?: AbortOptions): Promise<JobAttachment>
  detach (netns: string, options?: AbortOptions): Promise<void>
  mapPort (mapping: { protocol: 'tcp' | 'udp', port: number, to: { address: string, port?: number } }, options?: AbortOptions): Promise<PortMappingInfo>
  unmapPort (id: string, options?: AbortOptions): Promise<void>
  attachments (): JobAttachment[]
  mappings (): PortMappingInfo[]
  close (options?: AbortOptions): Promise<void>
}

export function createJobNetwork (options: JobNetworkOptions): JobNetwork {
  const subnet = parseCidr(options.subnet ?? '10.250.0.0/24')
  if (subnet.family !== 4 || subnet.prefixLen < 16 || subnet.prefixLen > 29) throw new InvalidArgumentError('job subnet must be an IPv4 prefix /16 to /29')
  const net = subnet as Cidr4
  const tag = options.tag ?? (process.pid % 100000).toString(36)
  const gateway = formatIPv4(net.base + 1)
  const bridgeName = `dvb${tag}`
  let bridge: Bridge | undefined
  let firewall: Firewall | undefined
  let masqueradeId: string | undefined
  const jobs = new Map<string, JobAttachment & { veth: Veth }>()
  const maps = new Map<string, PortMappingInfo>()
  let nextHost = 2
  let counter = 0
  const sysctl = createSysctlGuard()

  async function ensureBase (abort?: AbortOptions): Promise<Firewall> {
    if (bridge == null) {
      bridge = await createBridge({ name: bridgeName, addresses: [`${gateway}/${net.prefixLen}`] }, abort)
      await sysctl.set('net.ipv4.ip_forward', '1') // put back on close
    }
    if (firewall == null) {
      const fw = createFirewall({ table: `dmsnet_vpn_${tag}` })
      await fw.start(abort)
      firewall = fw
    }
    const tun = options.tunName()
    if (masqueradeId == null && tun != null) {
      masqueradeId = await firewall.addMasquerade({ source: `${formatIPv4(net.base)}/${net.prefixLen}`, outInterface: tun }, abort)
    }
    return firewall
  }

  return {
    async attach (netns, abort) {
      if (jobs.has(netns)) return jobs.get(netns)!
      await ensureBase(abort)
      const host = nextHost++
      if (host >= 2 ** (32 - net.prefixLen) - 1) throw new InvalidArgumentError('job subnet is full')
      const address = formatIPv4(net.base + host)
      const n = (counter++).toString(36)
      const hostIf = `dvh${tag}${n}`
      const jobIf = `dvj${tag}${n}`
      const veth = await createVeth({ a: { name: hostIf }, b: { name: jobIf, netns, addresses: [`${address}/${net.prefixLen}`] } }, abort)
      try {
        await bridge!.attach(hostIf, abort)
        const cidr = options.vpnCidr()
        const route = ['route', 'replace', cidr ?? 'default', 'via', gateway, 'dev', jobIf]
        // the job's TCP to members starts with the VPN's algorithm (docs/vpn.md, "Inner TCP"); never
        // on a default route (that would be all the job's traffic); a kernel without it: plain route
        const cc = cidr != null ? options.congestionControl ?? '' : ''
        if (cc === '' || !await suggestCongestionControl(route, cc, netns, abort?.signal)) {
          await ip(route, netns, abort)
        }
      } catch (err) {
        await veth.delete().catch(() => {})
        throw err
      }
      const a = { netns, address, gateway, hostInterface: hostIf, veth }
      jobs.set(netns, a)
      return { netns, address, gateway, hostInterface: hostIf }
    },
    async detach (netns, abort) {
      const a = jobs.get(netns)
      if (a == null) return
      jobs.delete(netns)
      await a.veth.delete(abort).catch(() => {})
    },
    async mapPort (mapping, abort) {
      const fw = await ensureBase(abort)
      const tun = options.tunName()
      const vpnAddr = options.vpnAddress()
      if (tun == null || vpnAddr == null) throw new InvalidArgumentError('the VPN is not running')
      const id = await fw.addPortMapping({ protocol: mapping.protocol, port: mapping.port, to: mapping.to, inInterface: tun, destination: vpnAddr }, abort)
      const info: PortMappingInfo = { id, protocol: mapping.protocol, port: mapping.port, target: `${mapping.to.address}:${mapping.to.port ?? mapping.port}` }
      maps.set(id, info)
      return info
    },
    async unmapPort (id, abort) {
      if (!maps.has(id) || firewall == null) throw new InvalidArgumentError(`no port mapping ${id}`)
      await firewall.remove(id, abort)
      maps.delete(id)
    },
    attachments () {
      return [...jobs.values()].map(({ netns, address, gateway, hostInterface }) => ({ netns, address, gateway, hostInterface }))
    },
    mappings () {
      return [...maps.values()]
    },
    async close (abort) {
      for (const a of jobs.values()) await a.veth.delete(abort).catch(() => {})
      jobs.clear()
      maps.clear()
      await firewall?.stop(abort).catch(() => {})
      firewall = undefined
      masqueradeId = undefined
      if (bridge != null) await deleteLink(bridgeName).catch(() => {})
      bridge = undefined
      await sysctl.restore()
    }
  }
}

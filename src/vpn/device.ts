/**
 * This node's end of the VPN on the host: the TUN device (through the TunFactory) with its
 * addresses and extra routes, and the DNS responder on the VPN addresses. Reopened when this
 * node's addresses, the MTU or the prefixes change; extra routes are updated in place (a reopen
 * would drop traffic). The open's AbortSignal bounds the open only (issue 14).
 */
import { configDefaults } from '../config/schema.js'
import { createDnsResponder, dnsStatsOf, type DnsResponder } from './dns.js'
import type { VpnDnsStats } from './types.js'
import { toForwardOptions } from './dns-forward.js'
import { parseCidr } from './ip.js'
import type { VpnConfig } from './api.js'
import type { DataPath } from './datapath.js'
import type { VpnMember, VpnMembership } from './membership.js'
import type { TunFactory } from './types.js'
import type { Logger } from '../logging.js'
import type { AbortOptions } from '@libp2p/interface'

export interface LocalDeviceOptions {
  tun: TunFactory
  config: VpnConfig
  offload: boolean
  /** The data path the device is attached to. */
  data: DataPath
  log?: Logger
  /** A member's addresses by DNS label, for the responder. */
  resolve: (name: string) => { ipv4: string, ipv6: string } | undefined
}

export class LocalDevice {
  private routes: string[] = []
  private dns: DnsResponder | undefined

  constructor (private readonly opts: LocalDeviceOptions) {}

  /** Opens a fresh device for `self` in `m` (the old one is closed first) and starts the DNS responder. */
  async open (m: VpnMembership, self: VpnMember, routes: string[], options?: AbortOptions): Promise<void> {
    await this.close()
    const v4 = parseCidr(m.cidr)
    const v6 = parseCidr(m.ipv6Prefix)
    const tun = await this.opts.tun({
      name: this.opts.config.interfaceName ?? configDefaults.vpn.interfaceName,
      mtu: m.mtu,
      offload: this.opts.offload,
      addresses: [`${self.ipv4}/${v4.prefixLen}`, `${self.ipv6}/${v6.prefixLen}`],
      routes,
      congestionControl: this.opts.config.congestionControl ?? configDefaults.vpn.congestionControl
    }, options)
    this.routes = routes
    this.opts.data.attachTun(tun)
    await this.startDns(m, self)
  }

  /** The DNS responder's counters while the device is open (vpn status, /metrics). */
  get dnsStats (): VpnDnsStats | undefined {
    return this.dns != null ? dnsStatsOf(this.dns) : undefined
  }

  /** Routes the extra prefixes of `routes` into the device, in place, when they changed. */
  async setRoutes (routes: string[]): Promise<void> {
    if (routes.join(',') === this.routes.join(',')) return
    await this.opts.data.tun?.setRoutes?.(routes)
    this.routes = routes
  }

  async close (): Promise<void> {
    const dns = this.dns
    this.dns = undefined
    await dns?.close().catch(() => {})
    const tun = this.opts.data.detachTun()
    await tun?.close().catch((err: unknown) => { this.opts.log?.warn({ err }, 'tun close failed') })
  }

  private async startDns (m: VpnMembership, self: VpnMember): Promise<void> {
    const port = this.opts.config.dnsPort ?? configDefaults.vpn.dnsPort
    if (port <= 0) return
    try {
      this.dns = await createDnsResponder({
        domain: m.domain,
        addresses: [self.ipv4, self.ipv6],
        port,
        logger: this.opts.log,
        forward: toForwardOptions(this.opts.config.dnsForward),
        resolve: this.opts.resolve
      })
    } catch (err) {
      this.opts.log?.warn({ err }, 'dns responder not started')
    }
  }
}

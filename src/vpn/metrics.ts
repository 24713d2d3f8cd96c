/**
 * The VPN's Prometheus gauges: packets and bytes moved, drops by reason, policy refusals. Read at
 * scrape time from the links and counters, so the data path only increments plain numbers.
 */
import { Gauge, type Registry } from 'prom-client'
import type { LinkStats } from './types.js'

export interface VpnCounters {
  links: () => Iterable<{ stats: LinkStats }>
  dropNoRoute: () => number
  dropNotMember: () => number
  refused: () => number
}

export function registerVpnMetrics (registry: Registry, c: VpnCounters): void {
  const sum = (k: keyof LinkStats): number => {
    let s = 0
    for (const l of c.links()) s += l.stats[k]
    return s
  }
  if (registry.getSingleMetric('dmsnet_vpn_packets') != null) return
  new Gauge({
    name: 'dmsnet_vpn_packets', help: 'VPN packets moved, by direction', labelNames: ['direction'], registers: [registry],
    collect () { this.set({ direction: 'tx' }, sum('txPackets')); this.set({ direction: 'rx' }, sum('rxPackets')) }
  })
  new Gauge({
    name: 'dmsnet_vpn_bytes', help: 'VPN bytes moved, by direction', labelNames: ['direction'], registers: [registry],
    collect () { this.set({ direction: 'tx' }, sum('txBytes')); this.set({ direction: 'rx' }, sum('rxBytes')) }
  })
  new Gauge({
    name: 'dmsnet_vpn_drops', help: 'VPN packets dropped, by reason', labelNames: ['reason'], registers: [registry],
    collect () {
      this.set({ reason: 'queue_full' }, sum('dropQueueFull'))
      this.set({ reason: 'spoofed' }, sum('dropSpoofed'))
      this.set({ reason: 'not_for_us' }, sum('dropNotForUs'))
      this.set({ reason: 'malformed' }, sum('dropMalformed'))
      this.set({ reason: 'bad_offload' }, sum('dropBadOffload'))
      this.set({ reason: 'no_route' }, c.dropNoRoute())
      this.set({ reason: 'not_member' }, c.dropNotMember())
    }
  })
  new Gauge({
    name: 'dmsnet_vpn_memberships_refused', help: 'Memberships and invitations refused by policy or trust', registers: [registry],
    collect () { this.set(c.refused()) }
  })
}

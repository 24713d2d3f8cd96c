/**
 * The VPN's Prometheus gauges: packets and bytes moved, drops by reason, policy refusals. Read at
 * scrape time from the links and counters, so the data path only increments plain numbers.
 */
import { Gauge, type Registry } from 'prom-client'
import type { LinkStats, VpnDnsStats } from './types.js'

export interface VpnCounters {
  links: () => Iterable<{ stats: LinkStats }>
  dropNoRoute: () => number
  dropNotMember: () => number
  refused: () => number
  /** Refused memberships fetched again unchanged (not judged again). */
  refusedRepeats?: () => number
  /** The DNS responder's counters, while it runs. */
  dns?: () => VpnDnsStats | undefined
}

export function registerVpnMetrics (registry: Registry, c: VpnCounters): void {
  const sum = (k: keyof LinkStats): number => {
    let s = 0
    for (const l of c.links()) s += l.stats[k] ?? 0
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
  new Gauge({
    name: 'dmsnet_vpn_memberships_refused_repeats', help: 'The authority\'s refused membership fetched again unchanged (counted, not judged again; the refresh backs off)', registers: [registry],
    collect () { this.set(c.refusedRepeats?.() ?? 0) }
  })
  // The DNS counters: queries by outcome at the responder, and what the forwarder did upstream
  // (its bounds: in-flight cap -> busy, timeouts, the answer cache's size). They count since the
  // device opened (a new responder per device), hence gauges.
  new Gauge({
    name: 'dmsnet_vpn_dns_queries', help: 'VPN DNS responder: queries received and their outcome since the device opened', labelNames: ['result'], registers: [registry],
    collect () {
      this.reset()
      const d = c.dns?.()
      if (d == null) return
      this.set({ result: 'received' }, d.queries)
      this.set({ result: 'answered' }, d.answered)
      this.set({ result: 'nxdomain' }, d.nxdomain)
      this.set({ result: 'malformed' }, d.malformed)
    }
  })
  new Gauge({
    name: 'dmsnet_vpn_dns_forward', help: 'VPN DNS forwarder (names outside the VPN domain): queries sent upstream, cache hits, timeouts, busy refusals, SERVFAILs, bad upstream replies, cached answers', labelNames: ['counter'], registers: [registry],
    collect () {
      this.reset()
      const f = c.dns?.()?.forward
      if (f == null) return
      this.set({ counter: 'forwarded' }, f.forwarded)
      this.set({ counter: 'cache_hits' }, f.cacheHits)
      this.set({ counter: 'timeouts' }, f.timeouts)
      this.set({ counter: 'busy' }, f.busy)
      this.set({ counter: 'servfail' }, f.servfail)
      this.set({ counter: 'bad_replies' }, f.badReplies)
      this.set({ counter: 'cache_entries' }, f.cacheEntries)
    }
  })
}

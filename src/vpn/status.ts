/**
 * `Vpn.status()`: the applied membership with each member's link state and counters, the
 * node-wide drop counters and policy counters, in the shape the CLI and control API print.
 */
import { emptyStats, type PeerLink } from './link.js'
import type { VpnMembership } from './membership.js'
import type { VpnDnsStats, VpnPeerStatus, VpnStatus } from './types.js'

export interface StatusParts {
  selfPeerId: string
  running: boolean
  applied: VpnMembership | undefined
  links: ReadonlyMap<string, PeerLink>
  tun?: { name: string, stats?: () => Record<string, number> }
  dns?: VpnDnsStats
  dropNoRoute: number
  dropNotMember: number
  ackThinned?: number
  policy: VpnStatus['policy']
  /** the authority's membership pushes (push.ts); reported only while this node is the authority */
  pusher?: { pendingPeers: () => string[], stats: { retries: number, recovered: number } }
  applyError?: string | undefined
  jobs: VpnStatus['jobs']
  portMappings: VpnStatus['portMappings']
}

export function buildStatus (p: StatusParts): VpnStatus {
  const cur = p.applied
  const self = cur?.members.find(m => m.peerId === p.selfPeerId)
  const peers: VpnPeerStatus[] = (cur?.members ?? []).map(m => {
    const link = p.links.get(m.peerId)
    return {
      peerId: m.peerId,
      name: m.name,
      ipv4: m.ipv4,
      ipv6: m.ipv6,
      routes: m.routes,
      self: m.peerId === p.selfPeerId,
      path: link?.stream == null ? 'none' : link.relayed ? 'relayed' : 'direct',
      queuedBytes: link?.queuedBytes ?? 0,
      ...(link?.stats ?? emptyStats())
    }
  })
  return {
    state: p.running ? 'running' : cur != null ? 'stopped' : 'idle',
    networkId: cur?.networkId,
    authority: cur?.authority,
    isAuthority: cur?.authority === p.selfPeerId,
    version: cur?.version ?? -1,
    interface: p.tun?.name,
    cidr: cur?.cidr,
    ipv6Prefix: cur?.ipv6Prefix,
    domain: cur?.domain,
    mtu: cur?.mtu,
    ipv4: self?.ipv4,
    ipv6: self?.ipv6,
    peers,
    dropNoRoute: p.dropNoRoute,
    dropNotMember: p.dropNotMember,
    ...(p.ackThinned != null ? { ackThinned: p.ackThinned } : {}),
    policy: p.policy,
    ...(p.pusher != null && cur != null && cur.authority === p.selfPeerId
      ? { pushes: { pending: p.pusher.pendingPeers(), retries: p.pusher.stats.retries, recovered: p.pusher.stats.recovered } }
      : {}),
    ...(p.applyError != null ? { applyError: p.applyError } : {}),
    tun: p.tun?.stats?.(),
    ...(p.dns != null ? { dns: p.dns } : {}),
    jobs: p.jobs,
    portMappings: p.portMappings
  }
}

/**
 * The authority's side of membership: who is in the VPN and with which addresses. It turns the
 * operator's peer specs into members (validated peer id, unique DNS label, private routes, an
 * address from the plan, dial hints) and builds each next snapshot; vpn.ts persists, applies and
 * pushes what comes out of here.
 */
import { randomUUID } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { configDefaults } from '../config/schema.js'
import { InvalidArgumentError } from '../errors.js'
import { createAddressPlan, DEFAULT_CIDR, DEFAULT_IPV6_PREFIX, type AddressPlan } from './address-plan.js'
import { formatIPv4, formatIPv6 } from './ip.js'
import { isAllowedRoute, isValidLabel, type VpnMember, type VpnMembership } from './membership.js'
import type { VpnConfig } from './api.js'
import type { PersistedState } from './state-store.js'
import type { VpnPeerSpec } from './types.js'
import type { Network } from '../network/types.js'

export function defaultName (peerId: string): string {
  return `p-${peerId.slice(-8).toLowerCase()}`
}

export interface AuthorityContext {
  network: Network
  selfPeerId: string
  plan: AddressPlan
}

/** The member for `spec` (keeping `existing`'s name, routes and hints unless the spec changes them). */
export function memberFor (ctx: AuthorityContext, spec: VpnPeerSpec, others: VpnMember[], existing?: VpnMember): VpnMember {
  try {
    peerIdFromString(spec.peerId)
  } catch (err) {
    throw new InvalidArgumentError(`not a peer id: ${spec.peerId}`, { cause: err })
  }
  let name = (spec.name ?? existing?.name ?? defaultName(spec.peerId)).toLowerCase()
  if (!isValidLabel(name)) throw new InvalidArgumentError(`not a DNS label: ${name}`)
  if (others.some(m => m.name === name)) {
    if (spec.name != null) throw new InvalidArgumentError(`name ${name} is taken`)
    let i = 2
    while (others.some(m => m.name === `${name}-${i}`)) i++
    name = `${name}-${i}`
  }
  for (const r of spec.routes ?? []) if (!isAllowedRoute(r)) throw new InvalidArgumentError(`route ${r} is not a private prefix (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7)`)
  const ip = ctx.plan.allocate(spec.peerId)
  let addrs = spec.addrs ?? existing?.addrs ?? []
  if (addrs.length === 0 && spec.peerId !== ctx.selfPeerId) {
    addrs = ctx.network.connectionsTo(spec.peerId).filter(c => !c.limited).map(c => c.remoteAddr)
  }
  if (spec.peerId === ctx.selfPeerId) addrs = ctx.network.getMultiaddrs().map(a => a.toString())
  return {
    peerId: spec.peerId,
    name,
    ipv4: formatIPv4(ip),
    ipv6: formatIPv6(ctx.plan.ipv6Of(ip)),
    routes: spec.routes ?? existing?.routes ?? [],
    addrs: addrs.slice(0, 32)
  }
}

/**
 * `start(peers)` on the authority: the plan (reused when the saved one is ours and for the same
 * range) and the next membership of exactly this node and `peers`; `dropped` are the members of
 * the saved membership no longer in it (their addresses are released).
 */
export function startMembership (network: Network, config: VpnConfig, saved: PersistedState, peers: VpnPeerSpec[], name?: string): { plan: AddressPlan, next: VpnMembership, dropped: VpnMember[] } {
  const selfPeerId = network.peerId.toString()
  const cidr = config.cidr ?? DEFAULT_CIDR
  const ipv6Prefix = config.ipv6Prefix ?? DEFAULT_IPV6_PREFIX
  const reuse = saved.membership?.authority === selfPeerId && saved.plan != null && saved.plan.cidr === cidr ? saved : undefined
  const plan = createAddressPlan({ cidr, ipv6Prefix, saved: reuse?.plan })
  const base: VpnMembership = reuse?.membership ?? {
    networkId: randomUUID(),
    authority: selfPeerId,
    version: 0,
    cidr,
    ipv6Prefix,
    domain: config.domain ?? configDefaults.vpn.domain,
    mtu: config.mtu ?? configDefaults.vpn.mtu,
    members: []
  }
  const ctx = { network, selfPeerId, plan }
  const specs: VpnPeerSpec[] = [{ peerId: selfPeerId, name }, ...peers.filter(p => p.peerId !== selfPeerId)]
  const members: VpnMember[] = []
  for (const spec of specs) {
    // a peer already in the saved membership keeps its entry: its own old name is not "taken"
    const existing = base.members.find(m => m.peerId === spec.peerId)
    const others = [...base.members.filter(m => m.peerId !== spec.peerId && !specs.some(s => s.peerId === m.peerId)), ...members]
    members.push(memberFor(ctx, spec, others, existing))
  }
  const dropped = base.members.filter(old => !members.some(m => m.peerId === old.peerId))
  for (const old of dropped) plan.release(old.peerId)
  return { plan, next: { ...base, version: base.version + 1, members }, dropped }
}

/**
 * VPN control methods (`vpn.*`): what `dmsnet vpn ...` calls. Handlers:
 * src/daemon/features/vpn.ts and vpn-jobs.ts (job namespaces and port mappings, whose input is
 * checked there before anything changes on the host).
 */
import { z } from 'zod'
import { InvalidArgumentError } from '../../errors.js'
import { CommandFailedError, InvalidAddressError, InvalidNamespaceNameError } from '../../netdev/errors.js'
import { AddressExhaustedError, InvitationRefusedError, MembershipRefusedError, NotAuthorityError, VpnNotRunningError } from '../../vpn/errors.js'
import { lazy, unary } from '../spec.js'
import { NamespaceNotAttachedError, NamespaceNotFoundError, PortInUseError, PortMappingNotFoundError } from './vpn-errors.js'

const peerSpec = lazy(() => z.object({
  peerId: z.string().min(1),
  name: z.string().min(1).max(63).optional(),
  routes: z.array(z.string().min(1)).max(64).optional(),
  addrs: z.array(z.string().min(1)).max(32).optional()
}))

const port = (): z.ZodNumber => z.number().int().min(1).max(65535)
const portMapping = lazy(() => z.object({ id: z.string(), protocol: z.enum(['tcp', 'udp']), port: z.number().int(), target: z.string() }))
const jobAttachment = lazy(() => z.object({ netns: z.string(), address: z.string(), gateway: z.string(), hostInterface: z.string() }))
const count = (): z.ZodNumber => z.number().int()

/** One member as `vpn.status` shows it (src/vpn/types.ts VpnPeerStatus). */
const peerStatus = lazy(() => z.object({
  peerId: z.string(),
  name: z.string(),
  ipv4: z.string(),
  ipv6: z.string(),
  routes: z.array(z.string()),
  self: z.boolean(),
  path: z.enum(['direct', 'relayed', 'none']),
  queuedBytes: count(),
  txPackets: count(),
  txBytes: count(),
  rxPackets: count(),
  rxBytes: count(),
  dropQueueFull: count(),
  dropSpoofed: count(),
  dropNotForUs: count(),
  dropMalformed: count(),
  dropBadOffload: count(),
  streamsOpened: count(),
  sendStalls: count().optional().meta({ description: 'times the tunnel stream refused more (its send buffer past the muxer\'s window or the socket\'s) and the link waited for it to drain' }),
  sendStalledMs: count().optional().meta({ description: 'ms the link waited for those drains (packets meanwhile wait in its bounded queue)' })
}))

/** src/vpn/types.ts VpnStatus. */
const vpnStatus = lazy(() => z.object({
  state: z.enum(['idle', 'running', 'stopped']),
  networkId: z.string().optional(),
  authority: z.string().optional(),
  isAuthority: z.boolean(),
  version: count(),
  interface: z.string().optional(),
  cidr: z.string().optional(),
  ipv6Prefix: z.string().optional(),
  domain: z.string().optional(),
  mtu: count().optional(),
  ipv4: z.string().optional(),
  ipv6: z.string().optional(),
  peers: z.array(peerStatus()),
  dropNoRoute: count().meta({ description: 'outbound packets with no member behind their destination' }),
  dropNotMember: count().meta({ description: 'inbound packets (and refused tunnel streams) from a peer that is not a member' }),
  ackThinned: count().optional().meta({ description: 'pure TCP ACKs left out because the next packet of the same TUN batch acknowledged more (src/vpn/ack-thin.ts)' }),
  policy: z.object({ refused: count(), invitationsRefused: count(), switches: count(), routesStripped: count(), refusedRepeats: count().meta({ description: 'a refused membership fetched again unchanged: counted, not judged or logged again (the fetch backs off)' }) }),
  pushes: z.object({
    pending: z.array(z.string()).meta({ description: 'members (peer ids) that have not taken the current membership yet: pushed again with backoff until they do' }),
    retries: count().meta({ description: 'pushes made again after a failed one' }),
    recovered: count().meta({ description: 'members that took a membership only after a push was made again' })
  }).optional().meta({ description: 'authority only: the membership pushes (src/vpn/push.ts)' }),
  applyError: z.string().optional().meta({ description: 'why the membership held could not be applied (state stopped); tried again at the next push or refresh' }),
  tun: z.record(z.string(), z.number()).optional().meta({ description: 'the TUN device\'s own counters' }),
  dns: z.object({
    queries: count(),
    answered: count(),
    nxdomain: count(),
    malformed: count(),
    forward: z.object({ forwarded: count(), cacheHits: count(), timeouts: count(), busy: count(), servfail: count(), badReplies: count(), cacheEntries: count() }).optional()
      .meta({ description: 'the forwarder of names outside the VPN domain (vpn.dnsForward)' })
  }).optional().meta({ description: 'the VPN DNS responder\'s counters since the device opened' }),
  jobs: z.array(jobAttachment()),
  portMappings: z.array(portMapping())
}))

export const up = unary('vpn.up', {
  description: 'start the VPN with these peers (this node becomes its authority), or resume the saved one',
  params: () => z.object({ peers: z.array(peerSpec()).max(4096).optional() }),
  result: () => vpnStatus(),
  errors: [AddressExhaustedError, MembershipRefusedError, InvitationRefusedError, CommandFailedError]
})

export const add = unary('vpn.add', {
  description: 'add a peer to the VPN (authority)',
  params: () => z.object({ peer: peerSpec() }),
  result: () => z.object({ peerId: z.string(), name: z.string(), ipv4: z.string(), ipv6: z.string(), routes: z.array(z.string()), addrs: z.array(z.string()) }),
  errors: [NotAuthorityError, VpnNotRunningError, AddressExhaustedError, MembershipRefusedError]
})

export const remove = unary('vpn.remove', {
  description: 'remove a peer from the VPN; it loses access at once (authority)',
  params: () => z.object({ peerId: z.string().min(1) }),
  result: () => vpnStatus(),
  errors: [NotAuthorityError, VpnNotRunningError]
})

export const down = unary('vpn.down', {
  description: 'take the VPN down on this node; forget also drops the saved membership (and dissolves the VPN on its authority)',
  params: () => z.object({ forget: z.boolean().default(false) }),
  result: () => vpnStatus()
})

export const status = unary('vpn.status', {
  description: 'VPN members with address, path (direct/relayed), bytes and drops',
  result: () => vpnStatus()
})

export const ping = unary('vpn.ping', {
  description: 'ping a member over the VPN (peer id, name or address)',
  params: () => z.object({ target: z.string().min(1), count: z.number().int().min(1).max(100).default(3) }),
  result: () => z.object({ address: z.string(), rtts: z.array(z.number()) }),
  errors: [InvalidArgumentError, VpnNotRunningError]
})

export const attach = unary('vpn.attach', {
  description: 'join a job network namespace to the VPN (veth + bridge + masquerade)',
  params: () => z.object({ netns: z.string().min(1) }),
  result: () => jobAttachment(),
  errors: [NamespaceNotFoundError, InvalidNamespaceNameError, VpnNotRunningError, CommandFailedError]
})

export const detach = unary('vpn.detach', {
  description: 'take a job namespace off the VPN (its veth is deleted)',
  params: () => z.object({ netns: z.string().min(1) }),
  result: () => z.object({ netns: z.string(), detached: z.literal(true) }),
  errors: [NamespaceNotFoundError, NamespaceNotAttachedError, InvalidNamespaceNameError, CommandFailedError]
})

export const mapPort = unary('vpn.map-port', {
  description: 'expose address:port (e.g. of a job) on this node\'s VPN address',
  params: () => z.object({ protocol: z.enum(['tcp', 'udp']), port: port(), to: z.object({ address: z.string().min(1), port: port().optional() }) }),
  result: () => portMapping(),
  errors: [PortInUseError, InvalidAddressError, VpnNotRunningError, CommandFailedError]
})

export const unmapPort = unary('vpn.unmap-port', {
  description: 'remove a port mapping by id',
  params: () => z.object({ id: z.string().min(1) }),
  result: () => vpnStatus(),
  errors: [PortMappingNotFoundError, CommandFailedError]
})

export const ports = unary('vpn.ports', {
  description: 'port mappings and attached job namespaces',
  result: () => z.object({ address: z.string().nullable(), mappings: z.array(portMapping()), jobs: z.array(jobAttachment()) })
})

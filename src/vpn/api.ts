/**
 * The VPN's public surface: what `createVpn` takes (`CreateVpnOptions`), the `Vpn` it returns and
 * the events it emits. The parts behind it: authority.ts (addresses, new memberships), member.ts
 * (whether a received membership is applied), policy.ts (what a membership may do to this host),
 * datapath.ts (TUN <-> links), dialler.ts (tunnel streams), state-store.ts (persistence), vpn.ts
 * (lifecycle and the control protocol, tying them together).
 */
import type { JobAttachment, PortMappingInfo } from './jobs.js'
import type { VpnMember, VpnMembership } from './membership.js'
import type { TunFactory, VpnPeerSpec, VpnStatus } from './types.js'
import type { Logger } from '../logging.js'
import type { Network } from '../network/types.js'
import type { AbortOptions } from '@libp2p/interface'
import type { TypedEventTarget } from 'main-event'
import type { Registry } from 'prom-client'
import type { DnsForwardConfig } from './dns-forward.js'

/**
 * `config.vpn` (src/config/schema.ts). Every key is optional here so the library can be used with
 * a partial config; whatever is missing takes the schema's default (`configDefaults.vpn`), the one
 * place defaults are written.
 */
export interface VpnConfig {
  cidr?: string
  ipv6Prefix?: string
  domain?: string
  mtu?: number
  interfaceName?: string
  /** UDP port of the DNS responder on the VPN address; 0 disables it. */
  dnsPort?: number
  /** Ranges a received membership's prefixes must lie in (private space only); default 100.64.0.0/10 and fc00::/7. */
  acceptRanges?: string[]
  /** Members (peer ids, or `*`) whose routes this node installs; default none. */
  acceptRoutesFrom?: string[]
  /** Whether an invitation to another VPN may replace the one this node is in; default false. */
  allowNetworkSwitch?: boolean
  /** Forwarding of names outside the domain (`vpn.dnsForward`); default on, resolv.conf. */
  dnsForward?: DnsForwardConfig
  /** TCP congestion control suggested on the VPN's routes (docs/vpn.md, "Inner TCP"); '' = the host's default. */
  congestionControl?: string
}

export interface CreateVpnOptions {
  network: Network
  /** `config.vpn` plus where to persist state (`<dataDir>/vpn/`). */
  config: VpnConfig & { dataDir: string }
  tun: TunFactory
  logger?: Logger
  metrics?: Registry
  /** DNS label of this node; default derived from the peer id. */
  name?: string
  /** TUN offloads (virtio_net_hdr, ~64 KiB TCP segments). Every member of a VPN must agree; default true. */
  offload?: boolean
  /** Per-peer outbound queue bound (bytes) before drop-tail; default 4 MiB. */
  maxQueueBytes?: number
  /**
   * Whether to accept an invitation (a membership pushed by an authority whose VPN we are not in).
   * Default: refuse every invitation; pass whom to trust (the daemon passes its swarm and
   * `vpn.acceptInvitesFrom`).
   */
  acceptInvite?: (authority: string) => boolean
  /** Delay cap between redials of a lost tunnel stream; default 2000 ms. */
  maxRedialDelayMs?: number
  /** How often a member fetches the membership from its authority (a missed push is caught then); default 30000 ms. */
  membershipRefreshMs?: number
  /**
   * The authority's push of a membership a member did not take is made again after this long,
   * doubling up to `pushRetryMaxMs` (push.ts); defaults 1000 and 60000 ms; 0: never again (how it
   * was before stop 28; `DMSNET_VPN_PUSH_RETRY=0` for before/after runs).
   */
  pushRetryMs?: number
  pushRetryMaxMs?: number
  /** Bridge subnet for attached job namespaces; default 10.250.0.0/24. */
  jobSubnet?: string
}

export interface VpnEvents {
  'membership:changed': CustomEvent<{ version: number, members: number }>
  /** A membership (or invitation) was refused; nothing of it was applied. */
  'membership:refused': CustomEvent<{ from: string, networkId: string, reason: string, error: string }>
  /** An invitation replaced the VPN this node was in (only with `allowNetworkSwitch`). */
  'network:switched': CustomEvent<{ from: string, previous: string, networkId: string }>
  'vpn:stopped': CustomEvent<{ reason: string }>
}

export interface Vpn extends TypedEventTarget<VpnEvents> {
  readonly peerId: string
  /**
   * Starts the VPN. With `peers`, this node becomes (or stays) the authority of a VPN of itself and
   * those peers. Without, it resumes the persisted membership, or waits for an invitation.
   */
  start (peers?: VpnPeerSpec[], options?: AbortOptions): Promise<VpnStatus>
  addPeer (peer: VpnPeerSpec, options?: AbortOptions): Promise<VpnMember>
  removePeer (peerId: string, options?: AbortOptions): Promise<void>
  /** Tears the local device down and tells the peers. `forget` also deletes the persisted membership (and, on the authority, dissolves the VPN). */
  stop (options?: AbortOptions & { forget?: boolean }): Promise<void>
  status (): VpnStatus
  /** The current membership snapshot as applied here (undefined when idle). */
  membership (): VpnMembership | undefined
  /** Sends raw records to a member's tunnel, bypassing the TUN (tests: forged packets). */
  injectRecords (peerId: string, records: Uint8Array): boolean
  /** Resolves once a tunnel stream to `peerId` is attached. */
  waitForLink (peerId: string, options?: AbortOptions): Promise<void>
  /** Joins a job's network namespace to the VPN (veth + bridge + masquerade). */
  attachNamespace (netns: string, options?: AbortOptions): Promise<JobAttachment>
  detachNamespace (netns: string, options?: AbortOptions): Promise<void>
  /** Exposes `to` (e.g. a job's address and port) on this node's VPN address (DNAT). */
  mapPort (mapping: { protocol: 'tcp' | 'udp', port: number, to: { address: string, port?: number } }, options?: AbortOptions): Promise<PortMappingInfo>
  unmapPort (id: string, options?: AbortOptions): Promise<void>
}

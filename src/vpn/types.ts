/**
 * Types shared by the VPN's parts: the TUN device as the VPN sees it, its options and status.
 */
import type { AbortOptions } from '@libp2p/interface'

/**
 * The TUN device as the data path uses it: batches of records in both directions
 * (`u32 BE length | payload`, payload = virtio_net_hdr + IP packet when `vnetHdr`).
 */
export interface VpnTun {
  readonly name: string
  /** Payloads carry a 10-byte virtio_net_hdr (offloads on: TCP segments up to ~64 KiB). */
  readonly vnetHdr: boolean
  /** Starts delivering read batches; each buffer belongs to the callee (never reused by the device). */
  start (onBatch: (batch: Uint8Array) => void, onError: (err: Error) => void): void
  /** Writes a batch of whole records; the device copies what it cannot write at once. */
  write (batch: Uint8Array): void
  /** Replaces the extra prefixes routed into the device (without reopening it). */
  setRoutes?: (routes: string[]) => Promise<void>
  /**
   * Stops / restarts reading (backpressure: while paused the kernel queues, then drops, packets
   * bound for the device, which costs far less than reading and dropping them here).
   */
  pause?: () => void
  resume?: () => void
  /** Device counters (reads, writes, kernel-side drops), when the device keeps them. */
  stats?: () => Record<string, number>
  close (): Promise<void>
}

export interface TunOpenOptions {
  name: string
  mtu: number
  /** Ask for IFF_VNET_HDR + TSO/USO offloads. */
  offload: boolean
  /** Addresses with prefix length (`100.64.1.2/10`, `fd..::1/64`) to put on the device. */
  addresses: string[]
  /** Extra prefixes to route into the device (subnets behind other members). */
  routes: string[]
  /**
   * TCP congestion control the device's routes give new connections (`ip route ... congctl`, not
   * locked: an application may switch a connection afterwards); '' or undefined: the host's default.
   */
  congestionControl?: string
}

/** Opens and configures the TUN device (address, MTU, routes, link up). */
export type TunFactory = (options: TunOpenOptions, abort?: AbortOptions) => Promise<VpnTun>

export interface VpnPeerSpec {
  peerId: string
  /** DNS label; default: derived from the peer id. */
  name?: string
  /** Prefixes behind this peer, routed to it (`10.1.0.0/24`). */
  routes?: string[]
  /** Multiaddrs to reach it (hints passed on to the other members). */
  addrs?: string[]
}

export interface LinkStats {
  txPackets: number
  txBytes: number
  rxPackets: number
  rxBytes: number
  /** Outbound packets dropped because the peer's queue was full (drop-tail). */
  dropQueueFull: number
  /** Inbound packets whose inner source is not the sender's. */
  dropSpoofed: number
  /** Inbound packets not addressed to this node. */
  dropNotForUs: number
  /** Inbound records that are not IP packets, and streams reset for a broken frame. */
  dropMalformed: number
  /** Inbound records whose virtio_net_hdr our kernel must not see (also counted in dropMalformed). */
  dropBadOffload: number
  /** Streams (re)opened to this peer. */
  streamsOpened: number
  /** Times the tunnel stream refused more (`send` returned false) and the link waited for its drain, and ms waited. */
  sendStalls?: number
  sendStalledMs?: number
}

export interface VpnPeerStatus extends LinkStats {
  peerId: string
  name: string
  ipv4: string
  ipv6: string
  routes: string[]
  self: boolean
  /** How the tunnel stream currently runs. */
  path: 'direct' | 'relayed' | 'none'
  queuedBytes: number
}

export interface VpnStatus {
  state: 'idle' | 'running' | 'stopped'
  networkId?: string
  authority?: string
  isAuthority: boolean
  version: number
  interface?: string
  cidr?: string
  ipv6Prefix?: string
  domain?: string
  mtu?: number
  ipv4?: string
  ipv6?: string
  peers: VpnPeerStatus[]
  /** Outbound packets with no member behind their destination. */
  dropNoRoute: number
  /** Inbound packets (and refused tunnel streams) from a peer that is not (or no longer) a member. */
  dropNotMember: number
  /** Pure TCP ACKs read from the TUN and not sent, superseded by the next one of the same batch (src/vpn/ack-thin.ts). */
  ackThinned?: number
  /** Memberships refused by this node's policy or trust rules, and VPN switches it accepted. */
  policy: {
    refused: number
    invitationsRefused: number
    switches: number
    routesStripped: number
    /** The authority's membership fetched again unchanged after it was refused: counted, not judged or logged again. */
    refusedRepeats: number
  }
  /** The TUN device's own counters. */
  tun?: Record<string, number>
  /**
   * Authority only: members that have not yet taken the current membership (pushed again with
   * backoff until they do, src/vpn/push.ts), pushes made again, members that took it only then.
   */
  pushes?: { pending: string[], retries: number, recovered: number }
  /** Why this node could not apply the membership it holds (state `stopped`); tried again at the next push or refresh. */
  applyError?: string
  /** The VPN DNS responder's counters (and its forwarder's), since the device opened; absent without a responder. */
  dns?: VpnDnsStats
  /** Job namespaces attached to the VPN through this node. */
  jobs: Array<{ netns: string, address: string, gateway: string, hostInterface: string }>
  portMappings: Array<{ id: string, protocol: 'tcp' | 'udp', port: number, target: string }>
}

/** Counters of the VPN's DNS responder (src/vpn/dns.ts) and of its forwarder (dns-forward.ts). */
export interface VpnDnsStats {
  queries: number
  answered: number
  nxdomain: number
  malformed: number
  forward?: { forwarded: number, cacheHits: number, timeouts: number, busy: number, servfail: number, badReplies: number, cacheEntries: number }
}

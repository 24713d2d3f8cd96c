/**
 * The `Network` contract: what every other dmsnet module (messaging, swarm, VPN, daemon) may use
 * of the libp2p host. The implementation lives in `./network.ts` (`createNetwork`).
 *
 * The host can be *replaced* at run time (joining or leaving a private swarm restarts libp2p with
 * another protector, DHT protocol and bootstrap list, keeping the same identity). Modules that
 * keep per-host state therefore listen for `host:changed`, and protocol handlers registered
 * through `Network.handle` survive the switch.
 */
import type { AbortOptions, Connection, ConnectionProtector, PublicKey, Libp2p, PeerId, Stream, StreamHandler, StreamHandlerOptions, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { KadDHT, Selectors, Validators } from '@libp2p/kad-dht'
import type { Libp2pOptions } from 'libp2p'
import type { Ping } from '@libp2p/ping'

/** Services every dmsnet host has (`host.services.pubsub` etc.); the optional ones follow the config. */
export interface DmsnetServices extends Record<string, unknown> {
  pubsub: GossipSub
  dht: KadDHT
  identify: Identify
  ping: Ping
  identifyPush?: unknown
  autonat?: unknown
  dcutr?: unknown
  upnp?: unknown
  relay?: unknown
  /** Connection liveness by muxer pings (./connection-pings.ts); libp2p's stream-ping monitor is off. */
  connectionPings?: import('./connection-pings.js').ConnectionPings
}

/** A libp2p host with dmsnet's services. Assignable to a plain `Libp2p`. */
export type DmsnetHost = Libp2p<DmsnetServices>

/** Reachability as AutoNAT and the address manager see it. */
export type Reachability = 'unknown' | 'public' | 'private'

/** NAT device type (go-libp2p's classification); only `unknown` unless AutoNAT learns more. */
export type NatDeviceType = 'unknown' | 'endpoint-independent' | 'endpoint-dependent'

export type Connectedness = 'connected' | 'not-connected'

export interface NetworkEvents {
  /** Our own announceable addresses changed (listen, observed, relay reservation, UPnP). */
  'local-addresses:updated': CustomEvent<{ addresses: string[] }>
  'reachability:changed': CustomEvent<{ reachability: Reachability }>
  /** Identify finished with a peer: we now know its protocols and addresses. */
  'peer:identified': CustomEvent<{ peerId: string, protocols: string[], listenAddrs: string[], agentVersion?: string }>
  'nat:type-changed': CustomEvent<{ transport: 'tcp' | 'udp', natType: NatDeviceType }>
  'peer:connectedness': CustomEvent<{ peerId: string, connectedness: Connectedness }>
  /** A discovery service (bootstrap, mDNS, DHT walk) found a peer; not yet connected. */
  'peer:discovered': CustomEvent<{ peerId: string, addresses: string[] }>
  /** The libp2p host was (re)created: per-host state must be re-attached to `host`. */
  'host:changed': CustomEvent<{ host: DmsnetHost, profile: HostProfile }>
}

export type NetworkEventName = keyof NetworkEvents

/** What distinguishes one libp2p host generation from the next (public vs a private swarm). */
export interface HostProfile {
  /** `public` or `swarm:<name>`. */
  name: string
  /**
   * Connection protector factory (a pre-shared-key protector for a private swarm, built by
   * `src/swarm`); absent on the public network. Passed to libp2p as `connectionProtector`.
   */
  connectionProtector?: (components: any) => ConnectionProtector // eslint-disable-line @typescript-eslint/no-explicit-any
  /** DHT protocol prefix, e.g. `/dmsnet` -> `/dmsnet/kad/1.0.0`. */
  dhtProtocolPrefix: string
  /** Bootstrap multiaddrs (with /p2p/ ids). */
  bootstrap: string[]
  /** Peers allowed to connect (by peer id); absent = anyone. Enforced by the connection gater. */
  allowPeers?: Set<string>
}

/**
 * DHT record namespaces a capability adds to every host (e.g. messaging's signed adverts), given
 * by whoever composes the node: the network itself knows no record type.
 */
export interface DhtRecordOptions {
  /** Record validators by key namespace (`/<namespace>/...`): a record failing one is not stored. */
  validators?: Validators
  /** Picks the best of several records for one key, by namespace. */
  selectors?: Selectors
  /**
   * Makes the datastore of each host generation (the DHT keeps its records there), e.g. one with
   * per-signer quotas. Default: libp2p's in-memory datastore.
   */
  datastore?: () => NonNullable<Libp2pOptions['datastore']>
}

/** Options of `dialProtocol`: streams over relayed (limited) connections must be asked for. */
export interface DialProtocolOptions extends AbortOptions {
  /** Allow the stream on a limited (relayed) connection. Default false, as in libp2p. */
  runOnLimitedConnection?: boolean
}

export interface PeerConnectionInfo {
  peerId: string
  direction: 'inbound' | 'outbound'
  remoteAddr: string
  /** e.g. `tcp`, `websockets`, `circuit-relay` */
  transport: string
  /** true when the connection is relayed (limited). */
  limited: boolean
  /** Last measured round-trip latency in ms, if known. */
  latencyMs?: number
  openedAt: number
}

export interface PeerStoreInfo {
  peerId: string
  addresses: string[]
  protocols: string[]
}

export interface NetworkStatus {
  peerId: string
  profile: string
  started: boolean
  listenAddrs: string[]
  announceAddrs: string[]
  reachability: Reachability
  natType: { tcp: NatDeviceType, udp: NatDeviceType }
  connections: PeerConnectionInfo[]
  /** Connections refused by the gater (deny list / allow-list) since the Network was created, by where they were stopped. */
  denied?: { dial: number, inbound: number, outbound: number }
  /** Dials made once more after the remote reset the connection before it was up (a listener being replaced). */
  dialRetries?: { connectResetRetries: number }
}

export interface Network extends TypedEventTarget<NetworkEvents> {
  readonly peerId: PeerId
  /**
   * Escape hatch: the current libp2p host. Throws NotStartedError before `start`; replaced on
   * every `host:changed`, so never keep it. dmsnet's own features do not use it (docs/network.md
   * says which narrow call to use instead); tests and benchmarks inspect libp2p internals with it.
   */
  readonly host: DmsnetHost
  readonly started: boolean
  readonly profile: HostProfile
  /** The current host's DHT (kad-dht). Throws NotStartedError before `start`; changes on `host:changed`. */
  readonly dht: KadDHT
  /** The current host's gossipsub. Throws NotStartedError before `start`; changes on `host:changed`. */
  readonly pubsub: GossipSub

  start (options?: AbortOptions): Promise<void>
  stop (options?: AbortOptions): Promise<void>
  /** Adds listen addresses on the running host. */
  listen (addrs: string[], options?: AbortOptions): Promise<string[]>
  /** Dial by peer id string, PeerId or multiaddr (string or object). */
  dial (target: string | PeerId | Multiaddr, options?: AbortOptions): Promise<Connection>
  hangUp (peer: string | PeerId, options?: AbortOptions): Promise<void>
  /** Round-trip time in ms, using the libp2p ping protocol. */
  ping (target: string | PeerId | Multiaddr, options?: AbortOptions): Promise<number>
  status (options?: AbortOptions): Promise<NetworkStatus>
  /** Connected peers' ids. */
  peers (): string[]
  isConnected (peer: string | PeerId): boolean
  /** Our announceable addresses (with /p2p/<self>); empty before `start`. */
  getMultiaddrs (): Multiaddr[]
  /** Open connections to `peer` (empty when none, or before `start`). */
  connectionsTo (peer: string | PeerId): PeerConnectionInfo[]
  /** What the peer store knows of `peer` (no network lookup); undefined when nothing. */
  getPeerInfo (peer: string | PeerId, options?: AbortOptions): Promise<PeerStoreInfo | undefined>
  /** Adds dial hints for `peer` to the peer store (kept with what it already has). */
  addPeerAddresses (peer: string | PeerId, addrs: Array<string | Multiaddr>, options?: AbortOptions): Promise<void>

  /** A peer's addresses: the peer store's, else a DHT lookup (Go DMS `ResolveAddress`). */
  resolveAddress (peer: string | PeerId, options?: AbortOptions): Promise<string[]>
  /** A peer's public key: from its id (Ed25519, secp256k1) or the peer store (Go `GetPeerPubKey`). */
  peerPublicKey (peer: string | PeerId, options?: AbortOptions): Promise<PublicKey>

  /** Register a protocol handler that survives host changes. */
  handle (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle (protocol: string): Promise<void>
  /** Open a stream, finding and connecting the peer (peerstore, then DHT) if needed. */
  dialProtocol (peer: string | PeerId | Multiaddr, protocol: string, options?: DialProtocolOptions): Promise<Stream>

  /** Replace the host with one built for `profile` (same identity). Emits `host:changed`. */
  switchProfile (profile: HostProfile, options?: AbortOptions): Promise<void>

  /** Typed convenience around addEventListener; returns a function that unregisters. */
  eventRegister<K extends NetworkEventName> (name: K, listener: (detail: NetworkEvents[K]['detail']) => void): () => void
}

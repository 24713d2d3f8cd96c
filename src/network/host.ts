/**
 * Builds one libp2p host generation from the node config and a `HostProfile`.
 *
 * The config says what the node is (listen addresses, limits, which NAT helpers run); the profile
 * says which network it is on (public vs a private swarm: protector, DHT prefix, bootstrap list,
 * allow-list). `createNetwork` calls this again with another profile to switch networks.
 */
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, removePublicAddressesMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { WebSockets, WebSocketsSecure } from '@multiformats/multiaddr-matcher'
import { lazyTransport } from './lazy-transport.js'
import { addressRandomWalk } from './addressed-walk.js'
import { fixWalkListeners } from './walk-listeners.js'
import { paceRandomWalk } from './paced-walk.js'
import { gateRandomWalk } from './walk-gate.js'
import { windowedYamux } from './yamux-window.js'
import { lazySelect } from './lazy-select.js'
import { withCoalescedWrites } from './coalesced-writes.js'
import { connectionPings } from './connection-pings.js'
import { fastMessageId } from './gossip-ids.js'
import { skipRedundantPeerWrites } from './peer-store-writes.js'
import { quietLogger } from './quiet-logger.js'
import { cachePeerInfo } from './peer-info-cache.js'
import { lightPeerStoreLocks } from './peer-store-locks.js'
import { paceTableRefresh } from './dht-refresh.js'
import { paceSelfQuery } from './dht-self-query.js'
import { skipKnownTableUpdates } from './dht-table-updates.js'
import { guardLengthDecoders } from './lp-decoder.js'
import { askTargetFirst } from './dht-direct.js'
import type { NetworkConfig } from '../config/schema.js'
import type { DhtRecordOptions, DmsnetHost, DmsnetServices, HostProfile } from './types.js'
import type { ConnectionGater, PeerId, PrivateKey } from '@libp2p/interface'

export const AGENT_VERSION = 'dmsnet/0.1.0'

/**
 * A lookup that asked the target itself or connected neighbours first (./dht-direct.ts) starts
 * kad-dht's full lookup beside them after this long without an answer naming the target (at once
 * when all of them answered without it or failed): a stalled first question costs at most this much.
 */
const DIRECT_LOOKUP_FALLBACK_MS = 1500

export interface CreateHostOptions {
  privateKey: PrivateKey
  config: NetworkConfig
  profile: HostProfile
  /** Record validators, selectors and datastore of the capabilities the composition plugs in. */
  dht?: DhtRecordOptions
  /** Extra libp2p options merged last (metrics, a custom datastore...). */
  extra?: Partial<Libp2pOptions<DmsnetServices>>
}

/** The profile for the public network, from the config. */
export function publicProfile (config: NetworkConfig): HostProfile {
  return {
    name: 'public',
    dhtProtocolPrefix: config.dht.protocolPrefix,
    bootstrap: [...config.bootstrap]
  }
}

/**
 * Deny list always wins; then the config allow-list (if non-empty) and the profile's allow-list
 * (if set) must both admit the peer. The profile's Set is read live, so a swarm module may
 * update it in place.
 */
export function isPeerAllowed (peer: string, config: Pick<NetworkConfig, 'denyPeers' | 'allowPeers'>, profile: Pick<HostProfile, 'allowPeers'>, extraDeny?: ReadonlySet<string>): boolean {
  if (config.denyPeers.includes(peer) || extraDeny?.has(peer) === true) return false
  if (config.allowPeers.length > 0 && !config.allowPeers.includes(peer)) return false
  if (profile.allowPeers != null && !profile.allowPeers.has(peer)) return false
  return true
}

/** A connection gater enforcing `isPeerAllowed` on dials and on both directions after the handshake. */
export function createGater (config: Pick<NetworkConfig, 'denyPeers' | 'allowPeers'>, profile: Pick<HostProfile, 'allowPeers'>, extraDeny?: ReadonlySet<string>, onDeny?: (peer: string, where: string) => void): ConnectionGater {
  const deny = (peerId: PeerId, where: string): boolean => {
    const p = peerId.toString()
    if (isPeerAllowed(p, config, profile, extraDeny)) return false
    onDeny?.(p, where)
    return true
  }
  return {
    denyDialPeer: (peerId) => deny(peerId, 'dial'),
    denyInboundEncryptedConnection: (peerId) => deny(peerId, 'inbound'),
    denyOutboundEncryptedConnection: (peerId) => deny(peerId, 'outbound'),
    denyInboundUpgradedConnection: (peerId) => deny(peerId, 'inbound'),
    denyOutboundUpgradedConnection: (peerId) => deny(peerId, 'outbound')
  }
}

/** Builds (does not start) a libp2p host. */
export async function createHost (options: CreateHostOptions & { gater?: ConnectionGater }): Promise<DmsnetHost> {
  const { config, profile, privateKey } = options
  // `auto` and `server` serve from the start (an explicit clientMode: false); kad-dht's own
  // automatic switch would wait for a public address that loopback and LAN clusters never get
  const dhtClientOnly = config.dht.mode === 'client'
  const dhtProtocol = `${profile.dhtProtocolPrefix}/kad/1.0.0`
  const mapper = config.dht.addressFilter === 'public'
    ? removePrivateAddressesMapper
    : config.dht.addressFilter === 'private' ? removePublicAddressesMapper : passthroughMapper

  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = []
  if (profile.bootstrap.length > 0) {
    peerDiscovery.push(bootstrap({ list: profile.bootstrap, timeout: 0 }))
  }
  if (config.mdns.enabled) {
    // issue 10: mDNS (multicast-dns, dns-packet) is loaded only by a node that runs it
    const { mdns } = await import('@libp2p/mdns')
    peerDiscovery.push(mdns({ interval: config.mdns.intervalMs, serviceTag: config.mdns.serviceTag }))
  }

  // issue 10: WebSockets' code (@libp2p/websockets, ws) loads on the first /ws dial or listen
  // (./lazy-transport.ts); the filter is @libp2p/websockets' own, so the same addresses go to it
  const transports: NonNullable<Libp2pOptions['transports']> = [tcp(), lazyTransport({
    tag: '@libp2p/websockets',
    filter: (addrs) => addrs.filter(ma => WebSockets.exactMatch(ma) || WebSocketsSecure.exactMatch(ma)),
    load: async () => (await import('@libp2p/websockets')).webSockets()
  })]
  if (config.relay.client) transports.push(circuitRelayTransport())

  const services: Record<string, unknown> = {
    identify: identify(),
    identifyPush: identifyPush(),
    // libp2p's defaults (1 outbound, 2 inbound per connection) collide with the connection
    // monitor's own pings: back-to-back user pings failed with "Too many outbound protocol streams"
    ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 8 }),
    dht: kadDHT({
      protocol: dhtProtocol,
      // keep records of one profile apart from another's in a shared datastore
      datastorePrefix: `/dht${profile.dhtProtocolPrefix}`,
      clientMode: dhtClientOnly,
      peerInfoMapper: mapper,
      kBucketSize: config.dht.kBucketSize,
      querySelfInterval: config.dht.querySelfIntervalMs,
      maxInboundStreams: config.dht.maxInboundStreams,
      maxOutboundStreams: config.dht.maxOutboundStreams,
      // a lookup's parallelism (docs/scale.md "DHT lookups")
      alpha: config.dht.alpha,
      disjointPaths: config.dht.disjointPaths,
      // NOTE: `allowQueryWithZeroPeers: true` made a node spin the event loop at start while the
      // routing table was empty (100% CPU). The cause was libp2p's random walk (relay discovery)
      // looping over lookups that return at once with no peers; it is paced now
      // (./paced-walk.ts). Still off: queries wait for the first self-query.
      allowQueryWithZeroPeers: false,
      // record types are the capabilities' business (messaging's signed adverts...): the node's
      // composition passes their validators in, and every host generation gets them
      validators: { ...options.dht?.validators },
      selectors: { ...options.dht?.selectors }
    }),
    pubsub: gossipsub({
      globalSignaturePolicy: 'StrictSign',
      // the duplicate check before the signature check (./gossip-ids.ts)
      fastMsgIdFn: fastMessageId,
      emitSelf: false,
      allowPublishToZeroTopicPeers: true,
      floodPublish: true,
      // topics are ours, not IPFS's: do not drop messages signed by unknown keys etc.
      fallbackToFloodsub: false,
      // resource caps (docs/config.md): streams per connection, per-peer queue, inbound size
      maxInboundStreams: config.pubsub.maxInboundStreams,
      maxOutboundStreams: config.pubsub.maxOutboundStreams,
      maxOutboundBufferSize: config.pubsub.maxOutboundBufferSize,
      maxInboundDataLength: config.pubsub.maxInboundDataLength,
      // issue 10: fewer copies of each message (the mesh) and of each IHAVE (gossip): at N=100 on
      // 2 cores the gossip tail is the CPU of ~100 daemons per message (docs/network.md)
      D: config.pubsub.meshDegree,
      Dlo: config.pubsub.meshDegreeLow,
      Dhi: config.pubsub.meshDegreeHigh,
      // gossipsub wants Dout < Dlo and Dout <= D / 2, and keeps Dscore best-scored peers when pruning
      Dout: Math.max(0, Math.min(2, config.pubsub.meshDegreeLow - 1, Math.floor(config.pubsub.meshDegree / 2))),
      Dscore: Math.min(4, config.pubsub.meshDegree),
      Dlazy: config.pubsub.gossipDegree,
      gossipFactor: config.pubsub.gossipFactor
    }),
    // issue 10: liveness by one yamux ping frame per connection instead of a ping stream (and
    // yamux's own keep-alive, off by default): see ./connection-pings.ts
    connectionPings: connectionPings({ intervalMs: config.connectionMonitor.pingIntervalMs, timeoutMs: config.connectionMonitor.pingTimeoutMs })
  }
  if (config.autonat.enabled) services.autonat = autoNAT()
  if (config.dcutr.enabled) services.dcutr = dcutr()
  // issue 10: UPnP's code (nat-port-mapper, ssdp, an XML parser) only in a node that runs it
  if (config.upnp.enabled) services.upnp = (await import('@libp2p/upnp-nat')).uPnPNAT()
  if (config.relay.server) {
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: config.relay.maxReservations,
        defaultDurationLimit: config.relay.durationLimitMs,
        defaultDataLimit: BigInt(config.relay.dataLimitBytes)
      }
    })
  }

  const listen = [...config.listen]
  if (config.relay.client) listen.push('/p2p-circuit')

  const init: Libp2pOptions<DmsnetServices> = {
    privateKey,
    nodeInfo: { name: 'dmsnet', version: '0.1.0', userAgent: AGENT_VERSION },
    addresses: {
      listen,
      announce: config.announce.length > 0 ? [...config.announce] : undefined
    },
    transports,
    // one socket write per Noise send (src/network/coalesced-writes.ts)
    connectionEncrypters: [withCoalescedWrites(noise())],
    // issue 10: DHT request streams do not wait for multistream-select's answer (./lazy-select.ts)
    streamMuxers: [lazySelect(windowedYamux({
      receiveWindow: config.yamux.initialStreamWindowSize,
      maxStreamWindowSize: config.yamux.maxStreamWindowSize,
      keepAliveInterval: config.yamux.keepAliveIntervalMs,
      maxFrameSize: config.yamux.maxFrameSize,
      connectionWindowBudget: config.yamux.connectionWindowBudget,
      globalWindowBudget: config.yamux.globalWindowBudget,
      maxInboundStreams: config.yamux.maxInboundStreams,
      // unread bytes count against the window, so a buffer of one full window never overflows
      maxReadBufferLength: Math.max(config.yamux.maxStreamWindowSize, config.yamux.initialStreamWindowSize) + 1024 * 1024
    }), (protocol) => protocol === dhtProtocol)],
    peerDiscovery,
    connectionManager: {
      maxConnections: config.connectionManager.maxConnections,
      maxIncomingPendingConnections: config.connectionManager.maxIncomingPendingConnections,
      maxParallelDials: config.connectionManager.maxParallelDials,
      dialTimeout: config.connectionManager.dialTimeoutMs,
      inboundConnectionThreshold: config.connectionManager.inboundConnectionThreshold
    },
    // issue 10: libp2p's monitor opens a stream per ping; `services.connectionPings` replaces it
    connectionMonitor: { enabled: false },
    connectionGater: options.gater ?? createGater(config, profile),
    services: services as unknown as Libp2pOptions<DmsnetServices>['services'],
    // issue 10: no `debug` loggers made per stream while no DEBUG namespace is on (./quiet-logger.ts)
    logger: quietLogger(),
    // the DHT keeps its records here; a capability may bring one with quotas (see DhtRecordOptions)
    ...(options.dht?.datastore != null ? { datastore: options.dht.datastore() } : {}),
    start: false,
    ...options.extra
  }
  if (profile.connectionProtector != null) init.connectionProtector = profile.connectionProtector

  // issue 10: no RangeError with a stack at the end of every socket read (./lp-decoder.ts)
  guardLengthDecoders()
  const host = await createLibp2p<DmsnetServices>(init)
  // issue 10: no abort listener (holding a peer) left behind per peer the random walk hands out (./walk-listeners.ts)
  fixWalkListeners(host as unknown as Parameters<typeof fixWalkListeners>[0])
  // issue 10: each walk lookup without a second DHT lookup per result (./addressed-walk.ts)
  addressRandomWalk(host as unknown as Parameters<typeof addressRandomWalk>[0])
  // the root cause of the idle CPU burn (issue 10): libp2p's random walk has no pause between
  // DHT lookups; see src/network/paced-walk.ts
  paceRandomWalk(host as unknown as Parameters<typeof paceRandomWalk>[0], config.randomWalk)
  // and no walk at all while the node has enough peers (./walk-gate.ts)
  gateRandomWalk(host as unknown as Parameters<typeof gateRandomWalk>[0], { stopAtConnections: config.randomWalk.stopAtConnections, checkIntervalMs: 30_000 })
  // issue 10: no peer-store write per stream when its protocol is already recorded
  skipRedundantPeerWrites(host.peerStore as unknown as Parameters<typeof skipRedundantPeerWrites>[0])
  // and no peer-store read per closest peer of each DHT answer, within 5 s (./peer-info-cache.ts)
  cachePeerInfo(host.peerStore as unknown as Parameters<typeof cachePeerInfo>[0])
  // and each peer-store access without mortice's queues, AbortErrors and timers (./peer-store-locks.ts)
  lightPeerStoreLocks(host.peerStore)
  // issue 10: kad-dht's periodic upkeep less often while it finds nobody new (./dht-self-query.ts);
  // its routing-table refresh, which kad-dht 16.4 never starts, only when configured, paced
  // (./dht-refresh.ts); no update job per answer for a peer the routing table holds
  // (./dht-table-updates.ts)
  const upkeepMax = config.dht.upkeepMaxIntervalMs
  if (config.dht.refreshIntervalMs > 0) paceTableRefresh(host.services.dht, host.peerId, { intervalMs: config.dht.refreshIntervalMs, maxIntervalMs: upkeepMax })
  paceSelfQuery(host.services.dht, host.peerId, { intervalMs: config.dht.querySelfIntervalMs, maxIntervalMs: upkeepMax })
  skipKnownTableUpdates(host.services.dht, host.peerId)
  // issue 10: a network lookup asks first whoever answers without a new connection: the connected
  // target, else the connected peers closest to it (./dht-direct.ts)
  askTargetFirst(host.services.dht, {
    fallbackMs: DIRECT_LOOKUP_FALLBACK_MS,
    connected: (peer) => host.getConnections(peer).some(c => c.status === 'open' && c.limits == null)
  })
  return host
}

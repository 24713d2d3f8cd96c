/**
 * `createNetwork`: the `Network` (types.ts) over a replaceable libp2p host.
 *
 * It owns the identity, the current host generation, the protocol-handler registry (re-applied to
 * every new host) and the translation of libp2p events into dmsnet's typed events. Start, stop
 * and profile switches are serialised so callers never see half a host.
 */
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { DialError, DmsnetError, SystemError, InvalidArgumentError, NotStartedError, PeerNotFoundError } from '../errors.js'
import { createLogger, type Logger } from '../logging.js'
import { createSerialQueue } from '../util/serial.js'
import { connectionInfo, listenAddrsOf, pinListenPorts, toPeerId, toTarget, transportManagerOf, wrapAbort } from './addressing.js'
import { startBootstrapRedial } from './bootstrap-redial.js'
import { startConnectionKeeper, type ConnectionKeeper } from './connection-keeper.js'
import { createGater, createHost, publicProfile } from './host.js'
import { attachHostEvents } from './host-events.js'
import { dialTarget, peerPublicKey, resolveAddress, type PeerLookupContext } from './peer-lookup.js'
import { loadOrCreateIdentity } from './identity.js'
import { classifyReachability, NatTypeTracker } from './reachability.js'
import type { Config } from '../config/schema.js'
import type { DhtRecordOptions, DialProtocolOptions, DmsnetHost, DmsnetServices, HostProfile, Network, NetworkEventName, NetworkEvents, NetworkStatus, PeerConnectionInfo, PeerStoreInfo, Reachability } from './types.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { KadDHT } from '@libp2p/kad-dht'
import type { AbortOptions, Connection, PeerId, PrivateKey, PublicKey, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { Libp2pOptions } from 'libp2p'

export { pinListenPorts, transportOf } from './addressing.js'

export interface CreateNetworkOptions {
  /** The whole node config (`loadConfig`/`defaultConfig`); only `network` and `logging` are read. */
  config: Config
  /**
   * The node key, a component the composition reads once (src/daemon/node.ts) and hands to every
   * part that signs. Standalone use may leave it out: it is then loaded from (or created at)
   * `config.network.identityFile`.
   */
  privateKey?: PrivateKey
  /** Same as `privateKey`, in the shape `loadOrCreateIdentity` returns. */
  identity?: { privateKey: PrivateKey }
  /** The logger component; default: a `network` logger at `config.logging.level`. */
  logger?: Logger
  /** The first host's profile; default: the public network from the config. */
  profile?: HostProfile
  /** DHT record types of the capabilities the composition plugs in (validators, selectors, datastore). */
  dht?: DhtRecordOptions
  /** Extra libp2p options for every host generation (tests, metrics). */
  libp2p?: Partial<Libp2pOptions<DmsnetServices>>
}

interface HandlerEntry { handler: StreamHandler, options?: StreamHandlerOptions }

class DmsnetNetwork extends TypedEventEmitter<NetworkEvents> implements Network {
  readonly peerId: PeerId
  private readonly config: Config
  private readonly privateKey: PrivateKey
  private readonly log: Logger
  private readonly extra?: Partial<Libp2pOptions<DmsnetServices>>
  private readonly dhtRecords?: DhtRecordOptions
  private readonly handlers = new Map<string, HandlerEntry>()
  private readonly latency = new Map<string, number>()
  private currentProfile: HostProfile
  private current?: DmsnetHost
  private detach?: () => void
  private stopRedial?: () => void
  private keeper?: ConnectionKeeper
  private reachability: Reachability = 'unknown'
  private nat = new NatTypeTracker()
  private readonly denied = { dial: 0, inbound: 0, outbound: 0 }
  private readonly dialCounters = { connectResetRetries: 0 }
  /** Configured listen addresses with port 0 pinned to what the first host bound (see pinListenPorts). */
  private pinnedListen?: string[]
  /** Serialises start/stop/switch. */
  private readonly queue = createSerialQueue()

  constructor (config: Config, privateKey: PrivateKey, profile: HostProfile, log: Logger, extra?: Partial<Libp2pOptions<DmsnetServices>>, dhtRecords?: DhtRecordOptions) {
    super()
    this.config = config
    this.privateKey = privateKey
    this.peerId = peerIdFromPrivateKey(privateKey)
    this.currentProfile = profile
    this.log = log
    this.extra = extra
    this.dhtRecords = dhtRecords
  }

  get host (): DmsnetHost {
    if (this.current == null) throw new NotStartedError('network is not started')
    return this.current
  }

  get dht (): KadDHT {
    return this.host.services.dht
  }

  get pubsub (): GossipSub {
    return this.host.services.pubsub
  }

  get started (): boolean {
    return this.current != null
  }

  get profile (): HostProfile {
    return this.currentProfile
  }

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn)
  }

  async start (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    await this.serial(async () => {
      if (this.current != null) return
      await this.bringUp(this.currentProfile, options)
    })
  }

  async stop (options?: AbortOptions): Promise<void> {
    await this.serial(async () => {
      await this.tearDown(options)
    })
  }

  private async bringUp (profile: HostProfile, options?: AbortOptions): Promise<void> {
    if (this.pinnedListen != null) {
      try {
        await this.bringUpWith(profile, this.pinnedListen, options)
        return
      } catch (err) {
        if (options?.signal?.aborted === true) throw err
        // the pinned port may have been taken meanwhile: fall back to what the config says
        this.log.warn({ err }, 'cannot listen on the previously bound ports; listening as configured')
      }
    }
    await this.bringUpWith(profile, this.config.network.listen, options)
    if (this.pinnedListen == null && this.current != null) {
      this.pinnedListen = pinListenPorts(this.config.network.listen, listenAddrsOf(this.current))
    }
  }

  private async bringUpWith (profile: HostProfile, listen: string[], options?: AbortOptions): Promise<void> {
    const gater = createGater(this.config.network, profile, undefined, (peer, where) => {
      const w = where as keyof typeof this.denied
      if (w in this.denied) this.denied[w]++
      this.log.debug({ peer, where }, 'connection denied by gater')
    })
    const host = await createHost({
      privateKey: this.privateKey,
      config: { ...this.config.network, listen },
      profile,
      dht: this.dhtRecords,
      gater,
      extra: this.extra
    })
    this.reachability = 'unknown'
    this.nat = new NatTypeTracker()
    this.detach = attachHostEvents(host, {
      emit: (name, detail) => { this.safeDispatch(name, detail) },
      nat: () => this.nat,
      addressesChanged: (addrs) => { this.updateReachability(addrs) },
      disconnected: (peerId) => { this.latency.delete(peerId) }
    })
    const ours = new Set<string>()
    try {
      for (const [protocol, { handler, options: hOpts }] of this.handlers) {
        await host.handle(protocol, handler, hOpts)
        ours.add(protocol)
      }
      await host.start()
      options?.signal?.throwIfAborted()
    } catch (err) {
      this.detach?.()
      this.detach = undefined
      await Promise.resolve().then(async () => { await host.stop() }).catch(() => {})
      throw wrapAbort(err, options) ?? err
    }
    this.current = host
    this.currentProfile = profile
    // @libp2p/bootstrap dials once: a node whose first dials failed would stay alone for good
    this.stopRedial = startBootstrapRedial(host, profile.bootstrap, {
      intervalMs: this.config.network.bootstrapRedialMs,
      maxIntervalMs: 300_000,
      dialTimeoutMs: this.config.network.connectionManager.dialTimeoutMs,
      onDialError: (addr, err) => { this.log.debug({ addr, err: err.message }, 'bootstrap re-dial failed') }
    })
    // libp2p has no low-water mark: dial known peers while below it (./connection-keeper.ts)
    this.keeper = startConnectionKeeper(host, {
      minConnections: this.config.network.connectionManager.minConnections,
      highWater: this.config.network.connectionManager.highWater,
      lowWater: this.config.network.connectionManager.lowWater,
      gracePeriodMs: this.config.network.connectionManager.trimGracePeriodMs,
      intervalMs: this.config.network.connectionManager.keeperIntervalMs,
      maxDialsPerCheck: 4,
      dialTimeoutMs: this.config.network.connectionManager.dialTimeoutMs,
      onDial: (peer, err) => { if (err != null) this.log.debug({ peer, err: err.message }, 'keeper dial failed') }
    })
    // (un)registrations made while the host was starting (no current host then) are applied now
    for (const [protocol, { handler, options: hOpts }] of this.handlers) {
      if (!ours.has(protocol)) await host.handle(protocol, handler, hOpts).catch((err: unknown) => { this.log.error({ err, protocol }, 'cannot register handler') })
    }
    for (const protocol of ours) {
      if (!this.handlers.has(protocol)) await host.unhandle(protocol).catch(() => {})
    }
    this.log.info({ peerId: this.peerId.toString(), profile: profile.name, addrs: host.getMultiaddrs().map(a => a.toString()) }, 'libp2p host started')
    this.safeDispatch('host:changed', { host, profile })
    this.updateReachability(host.getMultiaddrs())
  }

  private async tearDown (_options?: AbortOptions): Promise<void> {
    const host = this.current
    if (host == null) return
    this.current = undefined
    this.stopRedial?.()
    this.stopRedial = undefined
    this.keeper?.stop()
    this.keeper = undefined
    this.detach?.()
    this.detach = undefined
    this.latency.clear()
    await host.stop()
    this.log.info({ profile: this.currentProfile.name }, 'libp2p host stopped')
  }

  private safeDispatch<K extends NetworkEventName> (name: K, detail: NetworkEvents[K]['detail']): void {
    try {
      this.safeDispatchEvent(name, { detail } as never)
    } catch (err) {
      this.log.error({ err, event: name }, 'event listener threw')
    }
  }

  private updateReachability (addrs: Multiaddr[]): void {
    const next = classifyReachability(addrs)
    if (next === this.reachability) return
    this.reachability = next
    this.safeDispatch('reachability:changed', { reachability: next })
  }

  async listen (addrs: string[], options?: AbortOptions): Promise<string[]> {
    const host = this.host
    const mas = addrs.map(a => {
      try {
        return multiaddr(a)
      } catch (err) {
        throw new InvalidArgumentError(`not a multiaddr: "${a}"`, { cause: err })
      }
    })
    options?.signal?.throwIfAborted()
    const tm = transportManagerOf(host)
    if (tm == null) throw new DmsnetError('this libp2p version does not expose its transport manager: cannot add listen addresses at run time')
    try {
      await tm.listen(mas)
    } catch (err) {
      throw new SystemError(`cannot listen on ${addrs.join(', ')}: ${(err as Error).message}`, { cause: err })
    }
    return host.getMultiaddrs().map(a => a.toString())
  }

  private lookupContext (): PeerLookupContext {
    return { host: this.host, self: this.peerId, dialTimeoutMs: this.config.network.connectionManager.dialTimeoutMs, log: this.log, counters: this.dialCounters }
  }

  async dial (target: string | PeerId | Multiaddr, options?: AbortOptions): Promise<Connection> {
    return await dialTarget(this.lookupContext(), target, options)
  }

  async resolveAddress (peer: string | PeerId, options?: AbortOptions): Promise<string[]> {
    return await resolveAddress(this.lookupContext(), peer, options)
  }

  async peerPublicKey (peer: string | PeerId, options?: AbortOptions): Promise<PublicKey> {
    return await peerPublicKey(this.current, peer, options)
  }

  async hangUp (peer: string | PeerId, options?: AbortOptions): Promise<void> {
    await this.host.hangUp(toPeerId(peer), options)
  }

  async ping (target: string | PeerId | Multiaddr, options?: AbortOptions): Promise<number> {
    const host = this.host
    const t = toTarget(target)
    try {
      if (t.kind === 'peer' && !this.isConnected(t.peerId)) await this.dial(t.peerId, options)
      const rtt = await host.services.ping.ping(t.kind === 'addr' ? t.addr : t.peerId, options)
      const id = t.kind === 'peer' ? t.peerId.toString() : t.peerId?.toString()
      if (id != null) this.latency.set(id, rtt)
      return rtt
    } catch (err) {
      const aborted = wrapAbort(err, options)
      if (aborted != null) throw aborted
      if (err instanceof DialError || err instanceof PeerNotFoundError || err instanceof InvalidArgumentError) throw err
      throw new DialError(`ping failed: ${(err as Error).message}`, { cause: err })
    }
  }

  async status (_options?: AbortOptions): Promise<NetworkStatus> {
    const host = this.current
    const connections: PeerConnectionInfo[] = host == null
      ? []
      : host.getConnections().map(c => connectionInfo(c, this.latency.get(c.remotePeer.toString())))
    const listenAddrs = host == null ? [] : listenAddrsOf(host).map(a => a.toString())
    return {
      peerId: this.peerId.toString(),
      profile: this.currentProfile.name,
      started: host != null,
      listenAddrs,
      announceAddrs: host?.getMultiaddrs().map(a => a.toString()) ?? [],
      reachability: this.reachability,
      natType: { tcp: this.nat.tcp, udp: this.nat.udp },
      connections,
      denied: { ...this.denied },
      dialRetries: { ...this.dialCounters }
    }
  }

  peers (): string[] {
    return this.current?.getPeers().map(p => p.toString()) ?? []
  }

  isConnected (peer: string | PeerId): boolean {
    const host = this.current
    if (host == null) return false
    return host.getConnections(toPeerId(peer)).some(c => c.status === 'open')
  }

  getMultiaddrs (): Multiaddr[] {
    return this.current?.getMultiaddrs() ?? []
  }

  connectionsTo (peer: string | PeerId): PeerConnectionInfo[] {
    const host = this.current
    if (host == null) return []
    const id = toPeerId(peer)
    return host.getConnections(id).filter(c => c.status === 'open').map(c => connectionInfo(c, this.latency.get(id.toString())))
  }

  async getPeerInfo (peer: string | PeerId, options?: AbortOptions): Promise<PeerStoreInfo | undefined> {
    const id = toPeerId(peer)
    try {
      const p = await this.host.peerStore.get(id, options)
      return { peerId: id.toString(), addresses: p.addresses.map(a => a.multiaddr.toString()), protocols: [...p.protocols] }
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
  }

  async addPeerAddresses (peer: string | PeerId, addrs: Array<string | Multiaddr>, options?: AbortOptions): Promise<void> {
    if (addrs.length === 0) return
    const multiaddrs = addrs.map(a => {
      try {
        return typeof a === 'string' ? multiaddr(a) : a
      } catch (err) {
        throw new InvalidArgumentError(`not a multiaddr: "${String(a)}"`, { cause: err })
      }
    })
    await this.host.peerStore.merge(toPeerId(peer), { multiaddrs }, options)
  }

  async handle (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void> {
    if (protocol === '' || !protocol.startsWith('/')) throw new InvalidArgumentError(`protocol must start with "/": "${protocol}"`)
    if (this.handlers.has(protocol)) throw new InvalidArgumentError(`a handler for ${protocol} is already registered`)
    this.handlers.set(protocol, { handler, options })
    if (this.current != null) {
      try {
        await this.current.handle(protocol, handler, options)
      } catch (err) {
        this.handlers.delete(protocol)
        throw err
      }
    }
  }

  async unhandle (protocol: string): Promise<void> {
    this.handlers.delete(protocol)
    if (this.current != null) await this.current.unhandle(protocol)
  }

  async dialProtocol (peer: string | PeerId | Multiaddr, protocol: string, options?: DialProtocolOptions): Promise<Stream> {
    const conn = await this.dial(peer, options)
    try {
      return await conn.newStream(protocol, options)
    } catch (err) {
      const aborted = wrapAbort(err, options)
      if (aborted != null) throw aborted
      throw new DialError(`cannot open ${protocol} to ${conn.remotePeer.toString()}: ${(err as Error).message}`, { cause: err })
    }
  }

  async switchProfile (profile: HostProfile, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    await this.serial(async () => {
      const wasStarted = this.current != null
      const previous = this.currentProfile
      await this.tearDown(options)
      if (!wasStarted) {
        this.currentProfile = profile
        return
      }
      try {
        await this.bringUp(profile, options)
      } catch (err) {
        // do not leave the node offline: go back to the network it was on, then report
        this.log.error({ err, profile: profile.name }, 'cannot start host for new profile; restoring the previous one')
        await this.bringUp(previous).catch((err2: unknown) => {
          this.log.error({ err: err2, profile: previous.name }, 'cannot restore the previous profile either')
        })
        throw err
      }
    })
  }

  eventRegister<K extends NetworkEventName> (name: K, listener: (detail: NetworkEvents[K]['detail']) => void): () => void {
    const fn = (evt: Event): void => { listener((evt as CustomEvent).detail) }
    this.addEventListener(name, fn as never)
    return () => { this.removeEventListener(name, fn as never) }
  }
}

/**
 * Creates the node's `Network` (not started). Loads or creates the identity key when none is
 * given.
 */
export async function createNetwork (options: CreateNetworkOptions): Promise<Network> {
  const { config } = options
  let privateKey = options.privateKey ?? options.identity?.privateKey
  const log = options.logger ?? createLogger('network', config.logging.level)
  if (privateKey == null) {
    const id = await loadOrCreateIdentity(config.network.identityFile, { warn: (m) => { log.warn(m) } })
    if (id.created) log.info({ path: id.path, peerId: id.peerId }, 'created a new identity')
    privateKey = id.privateKey
  }
  const profile = options.profile ?? publicProfile(config.network)
  return new DmsnetNetwork(config, privateKey, profile, log, options.libp2p, options.dht)
}

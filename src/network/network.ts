/**
 * `createNetwork`: the `Network` (types.ts) over a replaceable libp2p host.
 *
 * It owns the identity, the current host generation, the protocol-handler registry (re-applied to
 * every new host) and the translation of libp2p events into dmsnet's typed events. Start, stop
 * and profile switches are serialised so callers never see half a host.
 */
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { AbortedError, DialError, DmsnetError, SystemError, InvalidArgumentError, NotStartedError, PeerNotFoundError, TimeoutError } from '../errors.js'
import { createLogger, type Logger } from '../logging.js'
import { startBootstrapRedial } from './bootstrap-redial.js'
import { startConnectionKeeper, type ConnectionKeeper } from './connection-keeper.js'
import { createGater, createHost, publicProfile } from './host.js'
import { loadOrCreateIdentity } from './identity.js'
import { classifyReachability, NatTypeTracker } from './reachability.js'
import type { Config } from '../config/schema.js'
import type { DialProtocolOptions, DmsnetHost, DmsnetServices, HostProfile, Network, NetworkEventName, NetworkEvents, NetworkStatus, PeerConnectionInfo, Reachability } from './types.js'
import type { AbortOptions, Connection, IdentifyResult, PeerId, PeerUpdate, PrivateKey, PublicKey, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { Libp2pOptions } from 'libp2p'

export interface CreateNetworkOptions {
  /** The whole node config (`loadConfig`/`defaultConfig`); only `network` and `profile` are read. */
  config: Config
  /** The node key; if absent it is loaded from (or created at) `config.network.identityFile`. */
  privateKey?: PrivateKey
  /** Same as `privateKey`, in the shape `loadOrCreateIdentity` returns. */
  identity?: { privateKey: PrivateKey }
  logger?: Logger
  /** The first host's profile; default: the public network from the config. */
  profile?: HostProfile
  /** Extra libp2p options for every host generation (tests, metrics). */
  libp2p?: Partial<Libp2pOptions<DmsnetServices>>
}

interface HandlerEntry { handler: StreamHandler, options?: StreamHandlerOptions }

/** Name of the transport a connection runs over, from its remote address. */
export function transportOf (ma: Multiaddr): string {
  const names = ma.getComponents().map(c => c.name)
  if (names.includes('p2p-circuit')) return 'circuit-relay'
  if (names.includes('webtransport')) return 'webtransport'
  if (names.includes('webrtc') || names.includes('webrtc-direct')) return 'webrtc'
  if (names.includes('ws') || names.includes('wss')) return 'websockets'
  if (names.includes('quic-v1') || names.includes('quic')) return 'quic'
  if (names.includes('memory')) return 'memory'
  if (names.includes('tcp')) return 'tcp'
  return names.at(-1) ?? 'unknown'
}

interface TransportManagerLike {
  listen(addrs: Multiaddr[]): Promise<void>
  getAddrs(): Multiaddr[]
}

/**
 * libp2p has no public call to listen on more addresses or to list the bound (not announced)
 * ones; both live on the transport manager component. Reached defensively so a libp2p upgrade that
 * moves it degrades `listen`/`status` instead of crashing them.
 */
function transportManagerOf (host: DmsnetHost): TransportManagerLike | undefined {
  const tm = (host as unknown as { components?: { transportManager?: Partial<TransportManagerLike> } }).components?.transportManager
  return typeof tm?.listen === 'function' && typeof tm.getAddrs === 'function' ? tm as TransportManagerLike : undefined
}

function listenAddrsOf (host: DmsnetHost): Multiaddr[] {
  try {
    return transportManagerOf(host)?.getAddrs() ?? host.getMultiaddrs()
  } catch {
    return host.getMultiaddrs()
  }
}

/**
 * Listen addresses with every `/tcp/0` replaced by the port the first host actually bound.
 *
 * Why: joining, leaving or rotating a private swarm replaces the host; with port 0 each new host
 * would land on a fresh port and every peer's stored address for us would go stale at once. Keeping
 * the port makes a host switch look like a short reconnect to everyone else.
 */
export function pinListenPorts (configured: string[], bound: Multiaddr[]): string[] {
  const boundStrs = bound.map(a => a.toString())
  return configured.map(addr => {
    const m = /^\/(ip4|ip6)\/([^/]+)\/tcp\/0(\/.*)?$/.exec(addr)
    if (m == null) return addr
    const [, family, ip, tail = ''] = m
    const wildcard = ip === '0.0.0.0' || ip === '::'
    for (const b of boundStrs) {
      const bm = /^\/(ip4|ip6)\/([^/]+)\/tcp\/(\d+)(\/.*)?$/.exec(b)
      if (bm == null) continue
      const [, bFamily, bIp, port, bTail = ''] = bm
      if (bFamily === family && bTail === tail && (wildcard || bIp === ip) && port !== '0') {
        return `/${family}/${ip}/tcp/${port}${tail}`
      }
    }
    return addr
  })
}

function toPeerId (peer: string | PeerId): PeerId {
  if (typeof peer !== 'string') return peer
  try {
    return peerIdFromString(peer)
  } catch (err) {
    throw new InvalidArgumentError(`not a peer id: "${peer}"`, { cause: err })
  }
}

type Target = { kind: 'peer', peerId: PeerId } | { kind: 'addr', addr: Multiaddr, peerId?: PeerId }

function toTarget (target: string | PeerId | Multiaddr): Target {
  if (isMultiaddr(target)) {
    const p = target.getComponents().findLast(c => c.name === 'p2p')?.value
    return { kind: 'addr', addr: target, peerId: p != null ? peerIdFromString(p) : undefined }
  }
  if (typeof target === 'string' && target.startsWith('/')) {
    let addr: Multiaddr
    try {
      addr = multiaddr(target)
    } catch (err) {
      throw new InvalidArgumentError(`not a multiaddr: "${target}"`, { cause: err })
    }
    return toTarget(addr)
  }
  return { kind: 'peer', peerId: toPeerId(target as string | PeerId) }
}

function wrapAbort (err: unknown, options?: AbortOptions): Error | undefined {
  if (options?.signal?.aborted === true) {
    const reason = options.signal.reason as Error | undefined
    return reason?.name === 'TimeoutError' ? new TimeoutError('operation timed out', { cause: err }) : new AbortedError('operation aborted', { cause: err })
  }
  return undefined
}

class DmsnetNetwork extends TypedEventEmitter<NetworkEvents> implements Network {
  readonly peerId: PeerId
  private readonly config: Config
  private readonly privateKey: PrivateKey
  private readonly log: Logger
  private readonly extra?: Partial<Libp2pOptions<DmsnetServices>>
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
  /** Configured listen addresses with port 0 pinned to what the first host bound (see pinListenPorts). */
  private pinnedListen?: string[]
  /** Serialises start/stop/switch. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor (config: Config, privateKey: PrivateKey, profile: HostProfile, log: Logger, extra?: Partial<Libp2pOptions<DmsnetServices>>) {
    super()
    this.config = config
    this.privateKey = privateKey
    this.peerId = peerIdFromPrivateKey(privateKey)
    this.currentProfile = profile
    this.log = log
    this.extra = extra
  }

  get host (): DmsnetHost {
    if (this.current == null) throw new NotStartedError('network is not started')
    return this.current
  }

  get started (): boolean {
    return this.current != null
  }

  get profile (): HostProfile {
    return this.currentProfile
  }

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
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
      nodeProfile: this.config.profile,
      gater,
      extra: this.extra
    })
    this.reachability = 'unknown'
    this.nat = new NatTypeTracker()
    this.detach = this.attach(host)
    const ours = new Set<string>()
    try {
      for (const [protocol, { handler, options: hOpts }] of this.handlers) {
        await host.handle(protocol, handler, hOpts)
        ours.add(protocol)
      }
      await host.start()
      options?.signal?.throwIfAborted()
      if (this.config.network.dht.mode === 'server' || (this.config.network.dht.mode === 'auto' && this.config.profile === 'lan')) {
        await host.services.dht.setMode('server')
      }
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

  /** Wires libp2p events of `host` to ours; returns the function that unwires them. */
  private attach (host: DmsnetHost): () => void {
    const onSelf = (_evt: CustomEvent<PeerUpdate>): void => {
      // what we announce (with /p2p/<self>), the same list `status().announceAddrs` shows
      const addrs = host.getMultiaddrs()
      this.safeDispatch('local-addresses:updated', { addresses: addrs.map(a => a.toString()) })
      this.updateReachability(addrs)
    }
    const onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
      const r = evt.detail
      const peerId = r.peerId.toString()
      this.safeDispatch('peer:identified', {
        peerId,
        protocols: [...r.protocols],
        listenAddrs: r.listenAddrs.map(a => a.toString()),
        agentVersion: r.agentVersion
      })
      if (r.observedAddr != null && r.connection?.direction === 'outbound') {
        const changed = this.nat.observe(peerId, r.observedAddr)
        if (changed != null) this.safeDispatch('nat:type-changed', changed)
      }
    }
    const onConnect = (evt: CustomEvent<PeerId>): void => {
      this.safeDispatch('peer:connectedness', { peerId: evt.detail.toString(), connectedness: 'connected' })
    }
    const onDisconnect = (evt: CustomEvent<PeerId>): void => {
      this.latency.delete(evt.detail.toString())
      this.safeDispatch('peer:connectedness', { peerId: evt.detail.toString(), connectedness: 'not-connected' })
    }
    host.addEventListener('self:peer:update', onSelf)
    host.addEventListener('peer:identify', onIdentify)
    host.addEventListener('peer:connect', onConnect)
    host.addEventListener('peer:disconnect', onDisconnect)
    return () => {
      host.removeEventListener('self:peer:update', onSelf)
      host.removeEventListener('peer:identify', onIdentify)
      host.removeEventListener('peer:connect', onConnect)
      host.removeEventListener('peer:disconnect', onDisconnect)
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

  async dial (target: string | PeerId | Multiaddr, options?: AbortOptions): Promise<Connection> {
    const host = this.host
    const t = toTarget(target)
    try {
      if (t.kind === 'addr') return await host.dial(t.addr, options)
      const existing = host.getConnections(t.peerId).find(c => c.status === 'open')
      if (existing != null) return existing
      const fromStore = await this.ensureAddresses(t.peerId, options)
      try {
        return await host.dial(t.peerId, options)
      } catch (err) {
        // the peer store's addresses may be stale: ask the DHT once before giving up
        if (!fromStore || options?.signal?.aborted === true) throw err
        this.log.debug({ peer: t.peerId.toString(), err }, 'dial with stored addresses failed; trying a DHT lookup')
        await this.lookup(t.peerId, options)
        return await host.dial(t.peerId, options)
      }
    } catch (err) {
      const aborted = wrapAbort(err, options)
      if (aborted != null) throw aborted
      if (err instanceof PeerNotFoundError || err instanceof InvalidArgumentError) throw err
      const what = t.kind === 'addr' ? t.addr.toString() : t.peerId.toString()
      throw new DialError(`cannot dial ${what}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Makes sure the peer store has addresses for `peerId`, asking the DHT if not. Returns true when
   * the peer store already had some (they may be stale).
   */
  private async ensureAddresses (peerId: PeerId, options?: AbortOptions): Promise<boolean> {
    if (peerId.equals(this.peerId)) throw new InvalidArgumentError('cannot dial self')
    try {
      const peer = await this.host.peerStore.get(peerId)
      if (peer.addresses.length > 0) return true
    } catch {
      // not in the peer store
    }
    await this.lookup(peerId, options)
    return false
  }

  /** DHT `findPeer`, bounded by the dial timeout; the answer goes to the peer store. */
  private async lookup (peerId: PeerId, options?: AbortOptions): Promise<void> {
    const host = this.host
    const signal = AbortSignal.any([
      AbortSignal.timeout(this.config.network.connectionManager.dialTimeoutMs),
      ...(options?.signal != null ? [options.signal] : [])
    ])
    try {
      const info = await host.peerRouting.findPeer(peerId, { signal })
      if (info.multiaddrs.length === 0) throw new PeerNotFoundError(`peer ${peerId.toString()} has no known addresses`)
      await host.peerStore.merge(peerId, { multiaddrs: info.multiaddrs })
    } catch (err) {
      if (options?.signal?.aborted === true) throw wrapAbort(err, options)!
      if (err instanceof PeerNotFoundError) throw err
      throw new PeerNotFoundError(`peer ${peerId.toString()} not found (peer store, DHT): ${(err as Error).message}`, { cause: err })
    }
  }

  async resolveAddress (peer: string | PeerId, options?: AbortOptions): Promise<string[]> {
    const peerId = toPeerId(peer)
    if (peerId.equals(this.peerId)) return this.host.getMultiaddrs().map(a => a.toString())
    await this.ensureAddresses(peerId, options)
    const stored = await this.host.peerStore.get(peerId, options)
    return stored.addresses.map(a => a.multiaddr.toString())
  }

  async peerPublicKey (peer: string | PeerId, options?: AbortOptions): Promise<PublicKey> {
    const peerId = toPeerId(peer)
    if (peerId.publicKey != null) return peerId.publicKey
    try {
      const stored = await this.host.peerStore.get(peerId, options)
      if (stored.id.publicKey != null) return stored.id.publicKey
    } catch {
      // not known yet
    }
    throw new PeerNotFoundError(`public key of ${peerId.toString()} is not known (RSA ids carry none until identify ran)`)
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
      : host.getConnections().map(c => ({
        peerId: c.remotePeer.toString(),
        direction: c.direction,
        remoteAddr: c.remoteAddr.toString(),
        transport: transportOf(c.remoteAddr),
        limited: c.limits != null,
        latencyMs: this.latency.get(c.remotePeer.toString()) ?? c.rtt,
        openedAt: c.timeline.open
      }))
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
      denied: { ...this.denied }
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
  return new DmsnetNetwork(config, privateKey, profile, log, options.libp2p)
}

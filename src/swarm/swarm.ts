/**
 * `createSwarmManager`: private swarms on top of the `Network` — create one, authorise and revoke
 * peers, hand out invites, exchange the key sealed to each member, join and leave (by switching
 * the network's host profile), rotate the key, and find the way back in after missing a rotation.
 *
 * Roles: the *creator* holds the authority (authorised list, current key, epoch) and serves key
 * requests on its swarm host and on a small public key-service host (see key-service.ts); a
 * *member* keeps the key it was given and follows the creator's pushes. Everything is persisted in
 * `config.swarm.stateFile`, so a restarted node resumes where it was.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { TypedEventEmitter } from 'main-event'
import { DialError, InvalidArgumentError } from '../errors.js'
import { createLogger, type Logger } from '../logging.js'
import { publicProfile as publicProfileOf } from '../network/host.js'
import { loadOrCreateIdentity } from '../network/identity.js'
import { InvalidInviteError, SealError, SwarmProtocolError, SwarmStateError, SwarmUnauthorizedError } from './errors.js'
import { formatInvite, hashInviteSecret, isInviteToken, newInviteSecret, parseInvite } from './invite.js'
import { generateSwarmKey } from './key-file.js'
import { startKeyService, type KeyService } from './key-service.js'
import { pskProtector } from './protector.js'
import { openSealed, sealTo } from './seal.js'
import { readSwarmState, writeSwarmState, type SwarmState } from './state.js'
import { channel, decodePayload, request, SWARM_KEY_PROTOCOL, type ErrorCode, type KeyPayload, type SwarmMessage } from './wire.js'
import type { Config } from '../config/schema.js'
import type { HostProfile, Network } from '../network/types.js'
import type { AbortOptions, Connection, PrivateKey, Stream } from '@libp2p/interface'

export interface SwarmEvents {
  'swarm:joined': CustomEvent<{ name: string, epoch: number, role: 'creator' | 'member' }>
  'swarm:left': CustomEvent<{ name: string }>
  /** This node now uses key epoch `epoch` (after a rotation or a recovery). */
  'swarm:epoch': CustomEvent<{ name: string, epoch: number }>
  /** Creator: a key request was refused (logged too). */
  'swarm:refused': CustomEvent<{ peerId: string, reason: ErrorCode }>
  /** Member: the creator says we are no longer authorised; the node is back on the public network. */
  'swarm:revoked': CustomEvent<{ name: string }>
  /** Member: the swarm could not be reached with the held key; asking the creator for the current one. */
  'swarm:recovering': CustomEvent<{ name: string, epoch: number }>
}

export interface SwarmStatus {
  name?: string
  role?: 'creator' | 'member'
  joined: boolean
  epoch?: number
  creator?: string
  /** Network profile in use (`public` or `swarm:<name>`). */
  profile: string
  authorised: string[]
  /** Authorised peers (and the creator) we have a connection to right now. */
  connected: string[]
  bootstrap: string[]
  keyService: string[]
  /** Creator: key requests refused since start. */
  refused: number
  /** Creator: outstanding (unused, unexpired) invites. */
  invites: number
}

export interface RotateResult {
  epoch: number
  /** Members that received the new key and were told to switch. */
  delivered: string[]
  /** Connected members that could not be reached (they recover through the key service). */
  failed: string[]
}

export type JoinTarget = string | { creator: string, name?: string }

export interface SwarmManager {
  addEventListener: TypedEventEmitter<SwarmEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<SwarmEvents>['removeEventListener']
  /** Registers the key-exchange protocol and resumes a persisted swarm (rejoins it). */
  start(options?: AbortOptions): Promise<void>
  /** Stops timers and the key service; does not leave the swarm (a restart rejoins it). */
  stop(options?: AbortOptions): Promise<void>
  /** Creates swarm `name` with this node as creator and bootstrap node, and enters it. */
  create(name: string, authorised?: string[], options?: AbortOptions): Promise<SwarmStatus>
  authorize(peerId: string, options?: AbortOptions): Promise<void>
  /** Removes `peerId`; by default also rotates the key so its copy becomes useless. */
  revoke(peerId: string, options?: AbortOptions & { rotate?: boolean }): Promise<void>
  /** A one-time invite token (default validity 24 h). */
  invite(options?: AbortOptions & { ttlMs?: number }): Promise<string>
  /** Join by invite token, by the creator's key-service address, or rejoin a known swarm by name. */
  join(target: JoinTarget, options?: AbortOptions): Promise<SwarmStatus>
  /** Back to the public network (persisted). */
  leave(options?: AbortOptions): Promise<void>
  /** Creator: new key epoch, pushed sealed to connected members, then everyone switches. */
  rotate(options?: AbortOptions): Promise<RotateResult>
  status(): SwarmStatus
}

export interface SwarmManagerInit {
  network: Network
  config: Pick<Config, 'swarm' | 'network'>
  logger?: Logger
  /** The node's identity key (must match `network.peerId`); default: read from `config.network.identityFile`. */
  privateKey?: PrivateKey
  /**
   * Creator: listen addresses of the public key service. Default: the TCP addresses of
   * `config.network.listen` with port 0 (a free port, then kept across restarts).
   */
  keyServiceListen?: string[]
  /** How long a (re)joining member tries the swarm with its key before asking the creator. Default 10 s. */
  rejoinTimeoutMs?: number
  /** How often a member checks it is still connected to the swarm. Default 15 s. */
  watchdogIntervalMs?: number
  /** Per request to the creator / per push to a member. Default 10 s. */
  requestTimeoutMs?: number
}

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/
const DAY = 24 * 60 * 60 * 1000

function checkPeerId (p: string): string {
  try {
    return peerIdFromString(p).toString()
  } catch (err) {
    throw new InvalidArgumentError(`not a peer id: "${p}"`, { cause: err })
  }
}

function withP2p (addr: string, peer: string): string {
  return /\/p2p\/[^/]+$/.test(addr) ? addr : `${addr}/p2p/${peer}`
}

/** True when `err` (or anything in its cause chain) is a TCP connection refusal. */
function isConnectionRefused (err: unknown, depth = 0): boolean {
  if (err == null || typeof err !== 'object' || depth > 6) return false
  const e = err as { code?: unknown, cause?: unknown, errors?: unknown }
  if (e.code === 'ECONNREFUSED') return true
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(x => isConnectionRefused(x, depth + 1))) return true
  return isConnectionRefused(e.cause, depth + 1)
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

class DmsnetSwarmManager extends TypedEventEmitter<SwarmEvents> implements SwarmManager {
  private readonly network: Network
  private readonly config: SwarmManagerInit['config']
  private readonly log: Logger
  private readonly privateKey: PrivateKey
  private readonly self: string
  private readonly stateFile: string
  private readonly publicProfile: HostProfile
  private readonly keyServiceListen?: string[]
  private readonly rejoinTimeoutMs: number
  private readonly watchdogIntervalMs: number
  private readonly requestTimeoutMs: number
  /** Live allow-list handed to every swarm profile; the network's gater reads it on each check. */
  private readonly allowed = new Set<string>()
  private state?: SwarmState
  /** Full payload of a pushed-but-not-yet-switched key (bootstrap etc.). */
  private pendingPayload?: KeyPayload
  private keyService?: KeyService
  private watchdog?: ReturnType<typeof setInterval>
  private checking = false
  private refused = 0
  private started = false
  private queue: Promise<unknown> = Promise.resolve()

  constructor (init: SwarmManagerInit, privateKey: PrivateKey) {
    super()
    this.network = init.network
    this.config = init.config
    this.log = init.logger ?? createLogger('swarm')
    this.privateKey = privateKey
    this.self = init.network.peerId.toString()
    this.stateFile = init.config.swarm.stateFile
    const current = init.network.profile
    this.publicProfile = current.name.startsWith('swarm:') ? publicProfileOf(init.config.network) : current
    this.keyServiceListen = init.keyServiceListen
    this.rejoinTimeoutMs = init.rejoinTimeoutMs ?? 10_000
    this.watchdogIntervalMs = init.watchdogIntervalMs ?? 15_000
    this.requestTimeoutMs = init.requestTimeoutMs ?? 10_000
  }

  /** Serialises state-changing operations (create, join, leave, rotate, recover...). */
  private op<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }

  private emit<K extends keyof SwarmEvents> (name: K, detail: SwarmEvents[K]['detail']): void {
    try {
      this.safeDispatchEvent(name, { detail } as never)
    } catch (err) {
      this.log.error({ err, event: name }, 'swarm event listener threw')
    }
  }

  private persist (): void {
    if (this.state != null) writeSwarmState(this.stateFile, this.state)
  }

  private refreshAllowed (): void {
    this.allowed.clear()
    if (this.state == null) return
    this.allowed.add(this.state.creator)
    for (const p of this.state.authorised) this.allowed.add(p)
  }

  private swarmProfile (state: SwarmState): HostProfile {
    return {
      name: `swarm:${state.name}`,
      connectionProtector: pskProtector({ psk: new Uint8Array(Buffer.from(state.psk, 'hex')) }),
      dhtProtocolPrefix: `/dmsnet/swarm/${state.name}`,
      bootstrap: state.bootstrap.filter(a => !a.endsWith(`/p2p/${this.self}`)),
      allowPeers: this.allowed
    }
  }

  private inSwarm (): boolean {
    return this.state != null && this.network.profile.name === `swarm:${this.state.name}`
  }

  private requireCreator (): SwarmState {
    const s = this.state
    if (s == null || s.role !== 'creator') throw new SwarmStateError('only the swarm creator can do this (no swarm created here)')
    return s
  }

  private ownSwarmAddrs (): string[] {
    if (!this.network.started) return []
    return this.network.host.getMultiaddrs()
      .map(a => a.toString())
      .filter(a => !a.includes('/p2p-circuit'))
      .map(a => withP2p(a, this.self))
  }

  /** Our current swarm addresses plus the other peers' entries of `list` (a restarted creator redials its members). */
  private mergeOwnAddrs (list: string[]): string[] {
    return [...new Set([...this.ownSwarmAddrs(), ...list.filter(a => !a.endsWith(`/p2p/${this.self}`))])]
  }

  /** Creator: its own swarm addresses plus the known addresses of connected members. */
  private async currentBootstrap (): Promise<string[]> {
    const s = this.state
    if (s == null) return []
    if (!this.inSwarm()) return s.bootstrap
    const out = new Set(this.ownSwarmAddrs())
    const host = this.network.host
    for (const p of s.authorised) {
      if (!this.network.isConnected(p)) continue
      try {
        const peer = await host.peerStore.get(peerIdFromString(p))
        for (const a of peer.addresses) {
          const str = a.multiaddr.toString()
          if (!str.includes('/p2p-circuit')) out.add(withP2p(str, p))
        }
      } catch { /* not in the peer store yet: its own dials will find us */ }
    }
    return [...out]
  }

  private defaultKeyServiceListen (): string[] {
    const out = this.config.network.listen
      .filter(a => /^\/ip[46]\/[^/]+\/tcp\/\d+$/.test(a))
      .map(a => a.replace(/\/tcp\/\d+$/, '/tcp/0'))
    return out.length > 0 ? out : ['/ip4/0.0.0.0/tcp/0']
  }

  private async ensureKeyService (): Promise<void> {
    const s = this.state
    if (s == null || s.role !== 'creator' || this.keyService != null) return
    this.keyService = await startKeyService({
      privateKey: this.privateKey,
      listen: s.keyServiceListen ?? this.keyServiceListen ?? this.defaultKeyServiceListen(),
      handler: (stream, connection) => { void this.onStream(stream, connection, 'key-service') }
    })
    s.keyService = this.keyService.addrs
    s.keyServiceListen = this.keyService.listen
    this.log.info({ addrs: s.keyService }, 'swarm key service listening')
  }

  private async stopKeyService (): Promise<void> {
    const ks = this.keyService
    this.keyService = undefined
    await ks?.stop()
  }

  // ---------------------------------------------------------------- lifecycle

  async start (options?: AbortOptions): Promise<void> {
    if (this.started) return
    options?.signal?.throwIfAborted()
    await this.network.handle(SWARM_KEY_PROTOCOL, (stream, connection) => { void this.onStream(stream, connection, 'swarm') }, { maxInboundStreams: 32 })
    this.started = true
    this.state = readSwarmState(this.stateFile)
    this.refreshAllowed()
    this.watchdog = setInterval(() => { void this.check() }, this.watchdogIntervalMs)
    this.watchdog.unref?.()
    if (this.state?.joined === true) {
      await this.op(async () => { await this.enterSwarm(false, options) })
    }
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    if (this.watchdog != null) clearInterval(this.watchdog)
    this.watchdog = undefined
    await this.queue.catch(() => {})
    await this.stopKeyService()
    await this.network.unhandle(SWARM_KEY_PROTOCOL).catch(() => {})
  }

  private requireStarted (): void {
    if (!this.started) throw new SwarmStateError('swarm manager is not started')
  }

  /** Switches the network into the swarm of `this.state`; a member then makes sure it is connected. */
  private async enterSwarm (waitConnected: boolean, options?: AbortOptions): Promise<void> {
    const s = this.state
    if (s == null) return
    this.refreshAllowed()
    if (s.role === 'creator') await this.ensureKeyService()
    await this.network.switchProfile(this.swarmProfile(s), options)
    if (s.role === 'creator') s.bootstrap = this.mergeOwnAddrs(s.bootstrap)
    this.persist()
    this.log.info({ swarm: s.name, epoch: s.epoch, role: s.role }, 'entered swarm')
    this.emit('swarm:joined', { name: s.name, epoch: s.epoch, role: s.role })
    if (s.role === 'member' && this.network.started) {
      if (waitConnected) {
        if (!await this.ensureConnected(this.rejoinTimeoutMs, options)) this.recoverInBackground()
      } else {
        void this.ensureConnected(this.rejoinTimeoutMs).then(ok => {
          if (!ok) this.recoverInBackground()
        }).catch((err: unknown) => { this.log.warn({ err }, 'swarm reconnect check failed') })
      }
    }
  }

  private connectedMembers (): string[] {
    if (!this.network.started || this.state == null || !this.inSwarm()) return []
    return this.network.peers().filter(p => this.allowed.has(p))
  }

  /**
   * Dials the swarm's bootstrap addresses (bounded by `timeoutMs`) until the creator is connected;
   * true if by then at least one authorised peer is (the swarm works without its creator).
   * Gives up early (false) when nothing listens any more at any of the creator's known addresses
   * for 2 s: the creator moved (a listen port of 0 picks a new port at every host switch), and
   * only its key service can tell us where it is now.
   */
  private async ensureConnected (timeoutMs: number, options?: AbortOptions): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    let refusedSince: number | undefined
    while (this.started && Date.now() < deadline) {
      options?.signal?.throwIfAborted()
      const s = this.state
      if (s == null || !this.inSwarm()) return false
      if (this.network.isConnected(s.creator)) return true
      const targets = s.bootstrap.filter(a => {
        const peer = /\/p2p\/([^/]+)$/.exec(a)?.[1]
        return peer != null && peer !== this.self && !this.network.isConnected(peer)
      })
      const wait = Math.max(100, Math.min(3000, deadline - Date.now()))
      const results = await Promise.allSettled(targets.map(async a => await this.network.dial(a, { signal: AbortSignal.timeout(wait) })))
      if (this.network.isConnected(s.creator)) return true
      const creatorResults = results.filter((_, i) => targets[i]!.endsWith(`/p2p/${s.creator}`))
      const allRefused = creatorResults.length > 0 && creatorResults.every(r => r.status === 'rejected' && isConnectionRefused(r.reason))
      if (!allRefused) {
        refusedSince = undefined
      } else {
        refusedSince ??= Date.now()
        if (Date.now() - refusedSince >= 2000 && this.connectedMembers().length === 0) return false
      }
      await sleep(200)
    }
    return this.connectedMembers().length > 0
  }

  /** Watchdog: a member with no swarm peer left tries to reconnect, then recovers. */
  private async check (): Promise<void> {
    const s = this.state
    if (this.checking || s == null || !s.joined || s.role !== 'member' || !this.network.started) return
    this.checking = true
    try {
      if (this.inSwarm() && this.connectedMembers().length > 0) return
      if (this.inSwarm() && await this.ensureConnected(Math.min(this.rejoinTimeoutMs, 3000))) return
      await this.op(async () => { await this.recover() })
    } catch (err) {
      this.log.warn({ err }, 'swarm watchdog check failed')
    } finally {
      this.checking = false
    }
  }

  // ---------------------------------------------------------------- creator API

  async create (name: string, authorised: string[] = [], options?: AbortOptions): Promise<SwarmStatus> {
    this.requireStarted()
    if (!NAME_RE.test(name)) throw new InvalidArgumentError(`swarm name must match ${NAME_RE}`)
    const peers = [...new Set(authorised.map(checkPeerId))].filter(p => p !== this.self)
    return await this.op(async () => {
      if (this.state?.joined === true) throw new SwarmStateError(`already in swarm "${this.state.name}"; leave it first`)
      await this.stopKeyService()
      this.state = {
        version: 1,
        name,
        role: 'creator',
        creator: this.self,
        epoch: 1,
        psk: Buffer.from(generateSwarmKey()).toString('hex'),
        authorised: peers,
        bootstrap: [],
        keyService: [],
        joined: true,
        invites: []
      }
      await this.enterSwarm(false, options)
      this.log.info({ swarm: name, authorised: peers.length }, 'created swarm')
      return this.status()
    })
  }

  async authorize (peerId: string, options?: AbortOptions): Promise<void> {
    const p = checkPeerId(peerId)
    const s = this.requireCreator()
    if (p === this.self || s.authorised.includes(p)) return
    s.authorised.push(p)
    this.refreshAllowed()
    this.persist()
    this.log.info({ peer: p }, 'authorised peer')
    await this.broadcastMembers(options)
  }

  async revoke (peerId: string, options?: AbortOptions & { rotate?: boolean }): Promise<void> {
    const p = checkPeerId(peerId)
    const s = this.requireCreator()
    const was = s.authorised.includes(p)
    s.authorised = s.authorised.filter(x => x !== p)
    this.refreshAllowed()
    this.persist()
    this.log.info({ peer: p }, 'revoked peer')
    if (was && this.inSwarm() && this.network.isConnected(p)) {
      // tell it, so it leaves cleanly instead of retrying; then cut it off
      await this.send(p, { t: 'revoked', swarm: s.name }, options).catch(() => {})
      await this.network.hangUp(p).catch(() => {})
    }
    await this.broadcastMembers(options)
    if (options?.rotate !== false && s.joined) await this.rotate(options)
  }

  async invite (options?: AbortOptions & { ttlMs?: number }): Promise<string> {
    const s = this.requireCreator()
    if (!s.joined || this.keyService == null) throw new SwarmStateError('the creator must be in its swarm to invite')
    const secret = newInviteSecret()
    const expiresAt = Date.now() + (options?.ttlMs ?? DAY)
    const now = Date.now()
    s.invites = s.invites.filter(i => i.expiresAt > now)
    s.invites.push({ hash: hashInviteSecret(secret), expiresAt })
    this.persist()
    return formatInvite({ name: s.name, creator: this.self, addrs: s.keyService, secret, expiresAt })
  }

  async rotate (options?: AbortOptions): Promise<RotateResult> {
    this.requireCreator()
    return await this.op(async () => {
      const s = this.requireCreator()
      if (!s.joined) throw new SwarmStateError('the creator must be in its swarm to rotate')
      const epoch = s.epoch + 1
      const psk = Buffer.from(generateSwarmKey()).toString('hex')
      // connected members first-class; others get a short try (they recover via the key service)
      const members = s.authorised
      const bootstrap = await this.currentBootstrap()
      const payload: KeyPayload = { swarm: s.name, epoch, psk, creator: this.self, authorised: [...s.authorised], bootstrap, keyService: s.keyService, issuedAt: Date.now() }
      const bytes = new TextEncoder().encode(JSON.stringify(payload))
      const delivered: string[] = []
      const failed: string[] = []
      await Promise.all(members.map(async p => {
        try {
          const env = await sealTo(this.privateKey, this.self, p, bytes)
          const reply = await this.send(p, { t: 'push', env }, options, this.network.isConnected(p) ? undefined : 2000)
          if (reply.t === 'ok') delivered.push(p)
          else failed.push(p)
        } catch (err) {
          this.log.warn({ peer: p, err }, 'key push failed')
          failed.push(p)
        }
      }))
      // from here on the new key is the swarm's: persisted before anyone switches
      s.epoch = epoch
      s.psk = psk
      s.bootstrap = bootstrap
      this.persist()
      await Promise.all(delivered.map(async p => {
        await this.send(p, { t: 'switch', swarm: s.name, epoch }, options).catch((err) => {
          this.log.warn({ peer: p, err }, 'switch notice failed; the member will recover')
        })
      }))
      await this.network.switchProfile(this.swarmProfile(s), options)
      s.bootstrap = this.mergeOwnAddrs(s.bootstrap)
      this.persist()
      this.log.info({ swarm: s.name, epoch, delivered: delivered.length, failed: failed.length }, 'rotated swarm key')
      this.emit('swarm:epoch', { name: s.name, epoch })
      return { epoch, delivered, failed }
    })
  }

  /** Tells connected members the authorised list changed (best effort). */
  private async broadcastMembers (options?: AbortOptions): Promise<void> {
    const s = this.state
    if (s == null || s.role !== 'creator' || !this.inSwarm()) return
    const msg: SwarmMessage = { t: 'members', swarm: s.name, authorised: [...s.authorised], bootstrap: await this.currentBootstrap() }
    await Promise.allSettled(s.authorised.filter(p => this.network.isConnected(p)).map(async p => await this.send(p, msg, options)))
  }

  private async send (peer: string, msg: SwarmMessage, options?: AbortOptions, timeoutMs = this.requestTimeoutMs): Promise<SwarmMessage> {
    const signal = options?.signal != null ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs)
    const stream = await this.network.dialProtocol(peer, SWARM_KEY_PROTOCOL, { signal })
    return await request(stream, msg, { signal })
  }

  // ---------------------------------------------------------------- member API

  async join (target: JoinTarget, options?: AbortOptions): Promise<SwarmStatus> {
    this.requireStarted()
    return await this.op(async () => {
      let addrs: string[]
      let creator: string
      let name: string | undefined
      let secret: string | undefined
      if (typeof target === 'string' && isInviteToken(target)) {
        const inv = parseInvite(target)
        if (inv.expiresAt <= Date.now()) throw new InvalidInviteError('invite has expired')
        ;({ addrs, creator, name, secret } = inv)
      } else if (typeof target === 'string' && !target.startsWith('/')) {
        const s = this.state
        if (s == null || s.name !== target) throw new SwarmStateError(`no key held for swarm "${target}"; join with an invite token or the creator's address`)
        s.joined = true
        await this.enterSwarm(true, options)
        return this.status()
      } else {
        const addr = typeof target === 'string' ? target : target.creator
        name = typeof target === 'string' ? undefined : target.name
        const m = /\/p2p\/([^/]+)$/.exec(addr)
        if (m == null) throw new InvalidArgumentError('the creator address must end in /p2p/<peer id>')
        creator = checkPeerId(m[1]!)
        addrs = [addr]
      }
      if (this.state?.joined === true && this.inSwarm()) throw new SwarmStateError(`already in swarm "${this.state.name}"; leave it first`)
      if (creator === this.self) throw new SwarmStateError('this node is the creator of that swarm')
      if (this.network.profile.name !== this.publicProfile.name) await this.network.switchProfile(this.publicProfile, options)
      const payload = await this.fetchKey(addrs, creator, name, secret, undefined, options)
      this.applyPayload(payload, 'member')
      await this.enterSwarm(true, options)
      return this.status()
    })
  }

  async leave (options?: AbortOptions): Promise<void> {
    await this.op(async () => {
      const s = this.state
      if (s == null || !s.joined) return
      s.joined = false
      this.persist()
      if (s.role === 'creator') await this.stopKeyService()
      if (this.network.profile.name !== this.publicProfile.name) await this.network.switchProfile(this.publicProfile, options)
      this.log.info({ swarm: s.name }, 'left swarm')
      this.emit('swarm:left', { name: s.name })
    })
  }

  private applyPayload (p: KeyPayload, role: 'member'): void {
    const prev = this.state
    this.state = {
      version: 1,
      name: p.swarm,
      role,
      creator: p.creator,
      epoch: p.epoch,
      psk: p.psk,
      authorised: p.authorised.filter(x => x !== p.creator),
      bootstrap: p.bootstrap,
      keyService: p.keyService.length > 0 ? p.keyService : (prev?.keyService ?? []),
      joined: true,
      invites: []
    }
    this.pendingPayload = undefined
    this.refreshAllowed()
    this.persist()
  }

  /** Asks the creator (at `addrs`) for the current key; typed errors for a refusal. */
  private async fetchKey (addrs: string[], creator: string, name: string | undefined, invite: string | undefined, epoch: number | undefined, options?: AbortOptions): Promise<KeyPayload> {
    let last: unknown
    // a short retry: the key service may be busy (many members at once) or restarting
    for (const addr of [...addrs, ...addrs, ...addrs]) {
      if (last != null) await sleep(300)
      const signal = options?.signal != null ? AbortSignal.any([options.signal, AbortSignal.timeout(this.requestTimeoutMs)]) : AbortSignal.timeout(this.requestTimeoutMs)
      let reply: SwarmMessage
      try {
        const stream = await this.network.dialProtocol(addr, SWARM_KEY_PROTOCOL, { signal })
        reply = await request(stream, { t: 'get', swarm: name ?? '', invite, epoch }, { signal })
        // the key service shares the creator's peer id: a lingering connection to it would be
        // mistaken for a connection to the creator's swarm host
        await this.network.hangUp(creator).catch(() => {})
      } catch (err) {
        options?.signal?.throwIfAborted()
        last = err
        continue
      }
      if (reply.t === 'err') {
        if (reply.code === 'unauthorized') throw new SwarmUnauthorizedError(`the swarm creator refused the key: ${reply.message}`)
        if (reply.code === 'bad-invite') throw new InvalidInviteError(`the swarm creator refused the invite: ${reply.message}`)
        last = new SwarmProtocolError(`key request failed: ${reply.code}: ${reply.message}`)
        continue
      }
      if (reply.t !== 'key') {
        last = new SwarmProtocolError(`unexpected reply ${reply.t}`)
        continue
      }
      const { plaintext } = await openSealed(this.privateKey, this.self, reply.env, creator)
      const payload = decodePayload(plaintext)
      if (payload.creator !== creator || (name != null && name !== '' && payload.swarm !== name)) {
        throw new SealError('key payload names another swarm or creator')
      }
      return payload
    }
    throw new DialError(`cannot reach the swarm creator's key service (${addrs.join(', ')}): ${(last as Error | undefined)?.message ?? 'no address'}`, { cause: last })
  }

  /**
   * A member that cannot reach the swarm with its key (it missed a rotation, or the swarm moved):
   * go back to the public network, ask the creator's key service for the current key with our
   * identity, and re-enter. Refused -> revoked: stay public.
   */
  /** Starts a recovery without waiting; its failure is logged, never an unhandled rejection. */
  private recoverInBackground (): void {
    void this.op(async () => { await this.recover() }).catch((err: unknown) => {
      this.log.warn({ err }, 'swarm recovery failed; the watchdog will try again')
    })
  }

  private async recover (): Promise<void> {
    const s = this.state
    if (s == null || !s.joined || s.role !== 'member' || !this.started) return
    if (this.inSwarm() && this.connectedMembers().length > 0) return
    this.log.info({ swarm: s.name, epoch: s.epoch }, 'cannot reach the swarm; asking the creator for the current key')
    this.emit('swarm:recovering', { name: s.name, epoch: s.epoch })
    if (this.network.profile.name !== this.publicProfile.name) await this.network.switchProfile(this.publicProfile)
    let payload: KeyPayload
    try {
      payload = await this.fetchKey(s.keyService, s.creator, s.name, undefined, s.epoch)
    } catch (err) {
      if ((err as Error).name === 'SwarmUnauthorizedError') {
        s.joined = false
        this.persist()
        this.log.warn({ swarm: s.name }, 'no longer authorised in the swarm; staying on the public network')
        this.emit('swarm:revoked', { name: s.name })
        return
      }
      this.log.warn({ err }, 'swarm creator unreachable; retrying with the key held')
      await this.network.switchProfile(this.swarmProfile(s))
      return
    }
    const changed = payload.epoch !== s.epoch
    this.applyPayload(payload, 'member')
    await this.network.switchProfile(this.swarmProfile(this.state!))
    if (changed) this.emit('swarm:epoch', { name: payload.swarm, epoch: payload.epoch })
    await this.ensureConnected(this.rejoinTimeoutMs)
  }

  /** Member: switch to the key pushed for `epoch`. */
  private async applyPending (epoch: number): Promise<void> {
    const s = this.state
    if (s?.pending == null || s.pending.epoch !== epoch) return
    s.epoch = s.pending.epoch
    s.psk = s.pending.psk
    if (this.pendingPayload?.epoch === epoch) {
      s.bootstrap = this.pendingPayload.bootstrap
      s.authorised = this.pendingPayload.authorised.filter(x => x !== s.creator)
    }
    delete s.pending
    this.pendingPayload = undefined
    this.refreshAllowed()
    this.persist()
    await this.network.switchProfile(this.swarmProfile(s))
    this.log.info({ swarm: s.name, epoch }, 'switched to new swarm key')
    this.emit('swarm:epoch', { name: s.name, epoch })
    if (!await this.ensureConnected(this.rejoinTimeoutMs)) await this.recover()
  }

  // ---------------------------------------------------------------- protocol

  private async onStream (stream: Stream, connection: Connection, via: 'swarm' | 'key-service'): Promise<void> {
    const remote = connection.remotePeer.toString()
    const ch = channel(stream)
    const signal = AbortSignal.timeout(this.requestTimeoutMs)
    let after: (() => void) | undefined
    try {
      const msg = await ch.read({ signal })
      let reply: SwarmMessage
      if (msg.t === 'get') {
        reply = await this.serveKey(remote, msg, via)
      } else if (via === 'swarm' && this.state?.role === 'member' && remote === this.state.creator) {
        ({ reply, after } = await this.onCreatorMessage(msg))
      } else {
        this.log.warn({ peer: remote, type: msg.t, via }, 'swarm message from a peer that is not the creator')
        reply = { t: 'err', code: 'unauthorized', message: 'only the swarm creator may send this' }
      }
      await ch.write(reply, { signal })
      await stream.close({ signal })
    } catch (err) {
      this.log.debug({ peer: remote, err }, 'swarm protocol stream failed')
      stream.abort(err as Error)
      return
    }
    after?.()
  }

  private async serveKey (remote: string, msg: Extract<SwarmMessage, { t: 'get' }>, via: string): Promise<SwarmMessage> {
    const s = this.state
    const refuse = (code: ErrorCode, message: string): SwarmMessage => {
      this.refused++
      this.log.warn({ peer: remote, code, via }, `refused swarm key request: ${message}`)
      this.emit('swarm:refused', { peerId: remote, reason: code })
      return { t: 'err', code, message }
    }
    if (s == null || s.role !== 'creator' || !s.joined) return refuse('unknown-swarm', 'this node serves no swarm')
    if (typeof msg.swarm !== 'string' || (msg.swarm !== '' && msg.swarm !== s.name)) return refuse('unknown-swarm', 'unknown swarm name')
    if (msg.invite != null) {
      const hash = hashInviteSecret(String(msg.invite))
      const now = Date.now()
      const i = s.invites.findIndex(x => x.hash === hash && x.expiresAt > now)
      if (i < 0) return refuse('bad-invite', 'invite unknown, used or expired')
      s.invites.splice(i, 1)
      if (!s.authorised.includes(remote) && remote !== this.self) s.authorised.push(remote)
      this.refreshAllowed()
      this.persist()
      this.log.info({ peer: remote }, 'invite redeemed; peer authorised')
      void this.broadcastMembers().catch(() => {})
    }
    if (!s.authorised.includes(remote)) return refuse('unauthorized', 'peer is not authorised in this swarm')
    const payload: KeyPayload = { swarm: s.name, epoch: s.epoch, psk: s.psk, creator: this.self, authorised: [...s.authorised], bootstrap: await this.currentBootstrap(), keyService: s.keyService, issuedAt: Date.now() }
    const env = await sealTo(this.privateKey, this.self, remote, new TextEncoder().encode(JSON.stringify(payload)))
    this.log.info({ peer: remote, epoch: s.epoch, via }, 'served swarm key')
    return { t: 'key', env }
  }

  /** Member side of the creator's pushes; `after` runs once the reply is flushed. */
  private async onCreatorMessage (msg: SwarmMessage): Promise<{ reply: SwarmMessage, after?: () => void }> {
    const s = this.state!
    switch (msg.t) {
      case 'push': {
        const { plaintext } = await openSealed(this.privateKey, this.self, msg.env, s.creator)
        const p = decodePayload(plaintext)
        if (p.swarm !== s.name) return { reply: { t: 'err', code: 'unknown-swarm', message: 'not my swarm' } }
        if (p.epoch <= s.epoch) return { reply: { t: 'ok', epoch: s.epoch } }
        s.pending = { epoch: p.epoch, psk: p.psk }
        this.pendingPayload = p
        this.persist()
        return { reply: { t: 'ok', epoch: p.epoch } }
      }
      case 'switch': {
        if (msg.epoch === s.epoch) return { reply: { t: 'ok', epoch: s.epoch } }
        if (s.pending?.epoch !== msg.epoch) return { reply: { t: 'err', code: 'stale', message: `no key held for epoch ${msg.epoch}` } }
        const epoch = msg.epoch
        return { reply: { t: 'ok', epoch }, after: () => { void this.op(async () => { await this.applyPending(epoch) }).catch(err => { this.log.warn({ err }, 'switching to the new key failed') }) } }
      }
      case 'members': {
        if (!Array.isArray(msg.authorised)) return { reply: { t: 'err', code: 'bad-request', message: 'authorised must be a list' } }
        s.authorised = msg.authorised.filter(x => typeof x === 'string' && x !== s.creator)
        // only well-formed entries reach the state file: a bad one would stop the next start
        const boot = Array.isArray(msg.bootstrap) ? (msg.bootstrap as unknown[]).filter((x): x is string => typeof x === 'string' && x.startsWith('/')) : []
        if (boot.length > 0) s.bootstrap = boot
        this.refreshAllowed()
        this.persist()
        const drop = this.network.peers().filter(p => !this.allowed.has(p))
        return { reply: { t: 'ok' }, after: () => { for (const p of drop) void this.network.hangUp(p).catch(() => {}) } }
      }
      case 'revoked': {
        return {
          reply: { t: 'ok' },
          after: () => {
            void this.op(async () => {
              s.joined = false
              this.persist()
              if (this.network.profile.name !== this.publicProfile.name) await this.network.switchProfile(this.publicProfile)
              this.log.warn({ swarm: s.name }, 'revoked by the swarm creator; back on the public network')
              this.emit('swarm:revoked', { name: s.name })
            }).catch((err: unknown) => { this.log.warn({ err }, 'could not return to the public network after revocation') })
          }
        }
      }
      default:
        return { reply: { t: 'err', code: 'bad-request', message: `unexpected ${msg.t}` } }
    }
  }

  status (): SwarmStatus {
    const s = this.state
    const now = Date.now()
    return {
      name: s?.name,
      role: s?.role,
      joined: s?.joined ?? false,
      epoch: s?.epoch,
      creator: s?.creator,
      profile: this.network.profile.name,
      authorised: [...(s?.authorised ?? [])],
      connected: this.connectedMembers(),
      bootstrap: [...(s?.bootstrap ?? [])],
      keyService: [...(s?.keyService ?? [])],
      refused: this.refused,
      invites: (s?.invites ?? []).filter(i => i.expiresAt > now).length
    }
  }
}

/**
 * Creates the swarm manager for a node. Call `start()` after the network has started; a
 * persisted swarm is rejoined then.
 */
export async function createSwarmManager (init: SwarmManagerInit): Promise<SwarmManager> {
  let key = init.privateKey
  if (key == null) key = (await loadOrCreateIdentity(init.config.network.identityFile)).privateKey
  const mgr = new DmsnetSwarmManager(init, key)
  if (init.network.peerId.publicKey != null && !init.network.peerId.publicKey.equals(key.publicKey)) {
    throw new InvalidArgumentError('the swarm manager\'s identity key does not match the network\'s peer id')
  }
  return mgr
}

/**
 * `createSwarmManager`: private swarms on top of the `Network` — create one, authorise and revoke
 * peers, hand out invites, exchange the key sealed to each member, join and leave (by switching
 * the network's host profile), rotate the key, and find the way back in after missing a rotation.
 *
 * This file wires the parts together and owns the lifecycle: `creator.ts` (the authority),
 * `member.ts` (following it, membership freshness, recovery), `protocol.ts` (the key protocol's
 * server side), `store.ts` (the one serialised path for state changes and their persistence).
 */
import { TypedEventEmitter } from 'main-event'
import { InvalidArgumentError } from '../errors.js'
import { createLogger, type Logger } from '../logging.js'
import { publicProfile as publicProfileOf } from '../network/host.js'
import { checkPeerId, SwarmContext } from './context.js'
import { CreatorRole } from './creator.js'
import { EpochProbe } from './epoch-probe.js'
import { InvalidInviteError, SwarmStateError } from './errors.js'
import { isInviteToken, parseInvite } from './invite.js'
import { MemberRole } from './member.js'
import { SwarmProtocol } from './protocol.js'
import { readSwarmState } from './state.js'
import { SwarmStore } from './store.js'
import { SWARM_KEY_PROTOCOL } from './wire.js'
import type { JoinTarget, RotateResult, SwarmEvents, SwarmManager, SwarmManagerInit, SwarmStatus } from './types.js'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'

export type { JoinTarget, RotateResult, SwarmEvents, SwarmManager, SwarmManagerInit, SwarmStatus } from './types.js'

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/

class DmsnetSwarmManager extends TypedEventEmitter<SwarmEvents> implements SwarmManager {
  private readonly ctx: SwarmContext
  private readonly store: SwarmStore
  private readonly creator: CreatorRole
  private readonly member: MemberRole
  private readonly protocol: SwarmProtocol
  private readonly epochProbe: EpochProbe
  private readonly log: Logger
  private readonly rejoinTimeoutMs: number
  private readonly watchdogIntervalMs: number
  private watchdog?: ReturnType<typeof setInterval>
  private unlistenConnect?: () => void

  constructor (init: SwarmManagerInit, privateKey: PrivateKey) {
    super()
    this.log = init.logger ?? createLogger('swarm')
    const current = init.network.profile
    const publicProfile = current.name.startsWith('swarm:') ? publicProfileOf(init.config.network) : current
    this.store = new SwarmStore(init.config.swarm.stateFile, this.log)
    this.rejoinTimeoutMs = init.rejoinTimeoutMs ?? 10_000
    this.watchdogIntervalMs = init.watchdogIntervalMs ?? 15_000
    this.ctx = new SwarmContext({
      network: init.network,
      store: this.store,
      log: this.log,
      privateKey,
      publicProfile,
      requestTimeoutMs: init.requestTimeoutMs ?? 10_000,
      emit: (name, detail) => {
        try {
          this.safeDispatchEvent(name, { detail } as never)
        } catch (err) {
          this.log.error({ err, event: name }, 'swarm event listener threw')
        }
      }
    })
    const logInterval = init.refusalLogIntervalMs ?? 60_000
    const defaultListen = init.config.network.listen
      .filter(a => /^\/ip[46]\/[^/]+\/tcp\/\d+$/.test(a))
      .map(a => a.replace(/\/tcp\/\d+$/, '/tcp/0'))
    this.creator = new CreatorRole(this.ctx, {
      ...(init.keyServiceListen != null ? { keyServiceListen: init.keyServiceListen } : {}),
      defaultKeyServiceListen: defaultListen.length > 0 ? defaultListen : ['/ip4/0.0.0.0/tcp/0'],
      refusalLogIntervalMs: logInterval,
      ...(init.keyServiceLimits != null ? { keyServiceLimits: init.keyServiceLimits } : {}),
      onKeyServiceStream: (stream, connection) => { void this.protocol.onStream(stream, connection, 'key-service') }
    })
    this.member = new MemberRole(this.ctx, {
      rejoinTimeoutMs: this.rejoinTimeoutMs,
      watchdogIntervalMs: this.watchdogIntervalMs,
      membershipRefreshMs: init.membershipRefreshMs ?? 60_000,
      membershipMaxAgeMs: init.membershipMaxAgeMs ?? 5 * 60_000
    })
    this.protocol = new SwarmProtocol(this.ctx, this.creator, this.member, logInterval)
    this.epochProbe = new EpochProbe({
      store: this.store,
      log: this.log,
      probe: async (epoch) => await this.member.probeEpoch(epoch),
      delayMs: init.epochProbeDelayMs ?? 2000
    })
  }

  /** Member in its swarm without a connection to the creator: a missed rotation is checked soon (epoch-probe.ts). */
  private creatorAway (fromWatchdog: boolean): void {
    const s = this.store.state
    if (s?.role !== 'member' || !s.joined || !this.ctx.inSwarm() || this.ctx.network.isConnected(s.creator)) return
    this.epochProbe.creatorLost(fromWatchdog)
  }

  private get self (): string {
    return this.ctx.self
  }

  // ---------------------------------------------------------------- lifecycle

  async start (options?: AbortOptions): Promise<void> {
    if (this.ctx.started) return
    options?.signal?.throwIfAborted()
    const { network } = this.ctx
    await network.handle(SWARM_KEY_PROTOCOL, (stream, connection) => { void this.protocol.onStream(stream, connection, 'swarm') }, { maxInboundStreams: 32 })
    this.ctx.started = true
    // a restarted member trusts nobody but the creator until it holds a fresh statement again
    this.member.resetTrust()
    await this.store.replace(readSwarmState(this.store.file))
    this.unlistenConnect = network.eventRegister('peer:connectedness', (d) => {
      const s = this.store.state
      if (s?.role === 'member' && d.peerId === s.creator && d.connectedness === 'connected') this.member.onCreatorConnected()
      if (s?.role === 'member' && d.peerId === s.creator && d.connectedness !== 'connected') this.creatorAway(false)
    })
    this.epochProbe.start()
    this.watchdog = setInterval(() => {
      void this.member.check()
      this.creatorAway(true)
    }, this.watchdogIntervalMs)
    this.watchdog.unref?.()
    if (this.store.state?.joined === true) {
      await this.store.op(async () => { await this.enterSwarm(false, options) })
    }
  }

  async stop (): Promise<void> {
    if (!this.ctx.started) return
    this.ctx.started = false
    if (this.watchdog != null) clearInterval(this.watchdog)
    this.watchdog = undefined
    this.epochProbe.stop()
    this.unlistenConnect?.()
    await this.store.idle()
    await this.creator.stopKeyService()
    await this.ctx.network.unhandle(SWARM_KEY_PROTOCOL).catch(() => {})
  }

  private requireStarted (): void {
    if (!this.ctx.started) throw new SwarmStateError('swarm manager is not started')
  }

  /** Switches the network into the swarm of the state; a member then makes sure it is connected. */
  private async enterSwarm (waitConnected: boolean, options?: AbortOptions): Promise<void> {
    const s = this.store.state
    if (s == null) return
    const { ctx } = this
    if (s.role === 'creator') await this.creator.ensureKeyService()
    await ctx.network.switchProfile(ctx.swarmProfile(s), options)
    if (s.role === 'creator') await this.store.update(st => { st.bootstrap = ctx.mergeOwnAddrs(st.bootstrap) })
    this.log.info({ swarm: s.name, epoch: s.epoch, role: s.role }, 'entered swarm')
    ctx.emit('swarm:joined', { name: s.name, epoch: s.epoch, role: s.role })
    if (s.role === 'member' && ctx.network.started) {
      if (ctx.network.isConnected(s.creator)) this.member.onCreatorConnected()
      if (waitConnected) {
        if (!await this.member.ensureConnected(this.rejoinTimeoutMs, options)) this.member.recoverSoon()
      } else {
        void this.member.ensureConnected(this.rejoinTimeoutMs).then(ok => {
          if (!ok) this.member.recoverSoon()
        }).catch((err: unknown) => { this.log.warn({ err }, 'swarm reconnect check failed') })
      }
    }
  }

  // ---------------------------------------------------------------- creator API

  async create (name: string, authorised: string[] = [], options?: AbortOptions): Promise<SwarmStatus> {
    this.requireStarted()
    if (!NAME_RE.test(name)) throw new InvalidArgumentError(`swarm name must match ${NAME_RE}`)
    const peers = [...new Set(authorised.map(checkPeerId))].filter(p => p !== this.self)
    return await this.store.op(async () => {
      if (this.store.state?.joined === true) throw new SwarmStateError(`already in swarm "${this.store.state.name}"; leave it first`)
      await this.creator.stopKeyService()
      await this.store.replace(this.creator.newState(name, peers))
      await this.enterSwarm(false, options)
      this.log.info({ swarm: name, authorised: peers.length }, 'created swarm')
      return this.status()
    })
  }

  async authorize (peerId: string, options?: AbortOptions): Promise<void> {
    const p = checkPeerId(peerId)
    this.creator.require()
    await this.creator.authorize(p, options)
  }

  async revoke (peerId: string, options?: AbortOptions & { rotate?: boolean }): Promise<void> {
    const p = checkPeerId(peerId)
    this.creator.require()
    await this.store.op(async () => {
      await this.creator.revoke(p, options)
      if (options?.rotate !== false && this.store.state?.joined === true) await this.creator.rotate(options)
    })
  }

  async invite (options?: AbortOptions & { ttlMs?: number }): Promise<string> {
    return await this.creator.invite(options?.ttlMs)
  }

  async rotate (options?: AbortOptions): Promise<RotateResult> {
    this.creator.require()
    return await this.store.op(async () => await this.creator.rotate(options))
  }

  // ---------------------------------------------------------------- member API

  async join (target: JoinTarget, options?: AbortOptions): Promise<SwarmStatus> {
    this.requireStarted()
    return await this.store.op(async () => {
      let addrs: string[]
      let creator: string
      let name: string | undefined
      let secret: string | undefined
      if (typeof target === 'string' && isInviteToken(target)) {
        const inv = parseInvite(target)
        if (inv.expiresAt <= Date.now()) throw new InvalidInviteError('invite has expired')
        ;({ addrs, creator, name, secret } = inv)
      } else if (typeof target === 'string' && !target.startsWith('/')) {
        const s = this.store.state
        if (s == null || s.name !== target) throw new SwarmStateError(`no key held for swarm "${target}"; join with an invite token or the creator's address`)
        await this.store.update(st => { st.joined = true })
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
      const s = this.store.state
      if (s?.joined === true && this.ctx.inSwarm()) throw new SwarmStateError(`already in swarm "${s.name}"; leave it first`)
      if (creator === this.self) throw new SwarmStateError('this node is the creator of that swarm')
      await this.ctx.toPublic(options)
      const payload = await this.member.fetchKey(addrs, creator, name, secret, undefined, options)
      await this.member.applyPayload(payload)
      await this.enterSwarm(true, options)
      return this.status()
    })
  }

  async leave (options?: AbortOptions): Promise<void> {
    await this.store.op(async () => {
      const s = this.store.state
      if (s == null || !s.joined) return
      await this.store.update(st => { st.joined = false })
      // coming back (join by name) must fetch the creator's current view first
      if (s.role === 'member') this.member.resetTrust()
      if (s.role === 'creator') await this.creator.stopKeyService()
      await this.ctx.toPublic(options)
      this.log.info({ swarm: s.name }, 'left swarm')
      this.ctx.emit('swarm:left', { name: s.name })
    })
  }

  status (): SwarmStatus {
    const s = this.store.state
    const now = Date.now()
    return {
      name: s?.name,
      role: s?.role,
      joined: s?.joined ?? false,
      epoch: s?.epoch,
      creator: s?.creator,
      profile: this.ctx.network.profile.name,
      authorised: [...(s?.authorised ?? [])],
      connected: this.ctx.connectedMembers(),
      bootstrap: [...(s?.bootstrap ?? [])],
      keyService: [...(s?.keyService ?? [])],
      refused: this.creator.refused,
      invites: (s?.invites ?? []).filter(i => i.expiresAt > now).length,
      membershipSeq: s?.role === 'creator' ? s.seq : s?.members?.seq,
      ...(s?.role === 'member' ? { membershipFresh: this.member.fresh(), epochProbes: { ...this.epochProbe.stats } } : {}),
      ...(s?.role === 'creator' ? { keyServiceStats: this.creator.keyServiceStats() } : {}),
      foreignMessages: this.protocol.foreign,
      protocolFailures: { ...this.protocol.failures }
    }
  }
}

/**
 * Creates the swarm manager for a node. Call `start()` after the network has started; a
 * persisted swarm is rejoined then.
 */
export async function createSwarmManager (init: SwarmManagerInit): Promise<SwarmManager> {
  const key = init.privateKey
  const mgr = new DmsnetSwarmManager(init, key)
  if (init.network.peerId.publicKey != null && !init.network.peerId.publicKey.equals(key.publicKey)) {
    throw new InvalidArgumentError('the swarm manager\'s identity key does not match the network\'s peer id')
  }
  return mgr
}

/**
 * The creator role: the swarm's authority. It keeps the authorised list (and the revoked one),
 * issues the signed membership statement, hands the key out sealed to authorised peers (also on
 * its public key service), redeems invites, rotates the key and revokes peers.
 */
import { SwarmStateError } from './errors.js'
import { formatInvite, hashInviteSecret, newInviteSecret } from './invite.js'
import { generateSwarmKey } from './key-file.js'
import { startKeyService, type KeyService, type KeyServiceLimits } from './key-service.js'
import { LogLimiter } from './log-limit.js'
import { signMembership, type MembershipStatement } from './membership.js'
import { sealTo } from './seal.js'
import { withP2p, type SwarmContext } from './context.js'
import type { SwarmState } from './state.js'
import type { RotateResult } from './types.js'
import type { ErrorCode, KeyPayload, SwarmMessage } from './wire.js'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'

const DAY = 24 * 60 * 60 * 1000
/** Revoked peer ids remembered (oldest forgotten first); revocations are operator actions. */
const MAX_REVOKED = 10_000

export interface CreatorInit {
  keyServiceListen?: string[]
  defaultKeyServiceListen: string[]
  keyServiceLimits?: Partial<KeyServiceLimits>
  refusalLogIntervalMs: number
  /** Handler of key-protocol streams arriving on the key service. */
  onKeyServiceStream: (stream: Stream, connection: Connection) => void
}

/** A new revision number: strictly increasing, and ahead of any older state restored from a backup. */
function nextSeq (s: SwarmState): number {
  return Math.max((s.seq ?? 0) + 1, Date.now())
}

export class CreatorRole {
  refused = 0
  private keyService?: KeyService
  private readonly refusalLog: LogLimiter

  constructor (private readonly ctx: SwarmContext, private readonly init: CreatorInit) {
    this.refusalLog = new LogLimiter(init.refusalLogIntervalMs)
  }

  require (): SwarmState {
    const s = this.ctx.state
    if (s == null || s.role !== 'creator') throw new SwarmStateError('only the swarm creator can do this (no swarm created here)')
    return s
  }

  get keyServiceRunning (): boolean {
    return this.keyService != null
  }

  /** A fresh state for a new swarm (epoch 1). */
  newState (name: string, authorised: string[]): SwarmState {
    return {
      version: 1,
      name,
      role: 'creator',
      creator: this.ctx.self,
      epoch: 1,
      psk: Buffer.from(generateSwarmKey()).toString('hex'),
      authorised,
      bootstrap: [],
      keyService: [],
      joined: true,
      invites: [],
      seq: Date.now(),
      revoked: []
    }
  }

  async ensureKeyService (): Promise<void> {
    const s = this.ctx.state
    if (s == null || s.role !== 'creator' || this.keyService != null) return
    this.keyService = await startKeyService({
      privateKey: this.ctx.privateKey,
      listen: s.keyServiceListen ?? this.init.keyServiceListen ?? this.init.defaultKeyServiceListen,
      handler: this.init.onKeyServiceStream,
      ...(this.init.keyServiceLimits != null ? { limits: this.init.keyServiceLimits } : {})
    })
    const ks = this.keyService
    await this.ctx.store.update(st => {
      st.keyService = ks.addrs
      st.keyServiceListen = ks.listen
    })
    this.ctx.log.info({ addrs: ks.addrs }, 'swarm key service listening')
  }

  async stopKeyService (): Promise<void> {
    const ks = this.keyService
    this.keyService = undefined
    await ks?.stop()
  }

  /** Key-service counters (connections refused by the per-address limit, idle ones closed, handshakes pending). */
  keyServiceStats (): { refusedConnections: number, idleClosed: number, pendingHandshakes?: number } {
    return this.keyService?.stats() ?? { refusedConnections: 0, idleClosed: 0, pendingHandshakes: 0 }
  }

  /** The signed statement of the current authorised list, for `epoch` (default: the current one). */
  async statement (epoch?: number): Promise<MembershipStatement> {
    const s = this.require()
    return await signMembership(this.ctx.privateKey, { swarm: s.name, creator: this.ctx.self, epoch: epoch ?? s.epoch, seq: s.seq ?? 0, authorised: s.authorised })
  }

  /** Its own swarm addresses plus the known addresses of connected members. */
  async currentBootstrap (): Promise<string[]> {
    const s = this.ctx.state
    if (s == null) return []
    if (!this.ctx.inSwarm()) return s.bootstrap
    const out = new Set(this.ctx.ownSwarmAddrs())
    for (const p of s.authorised) {
      if (!this.ctx.network.isConnected(p)) continue
      // not in the peer store yet: its own dials will find us
      const peer = await this.ctx.network.getPeerInfo(p).catch(() => undefined)
      for (const str of peer?.addresses ?? []) {
        if (!str.includes('/p2p-circuit')) out.add(withP2p(str, p))
      }
    }
    return [...out]
  }

  async authorize (peer: string, options?: AbortOptions): Promise<void> {
    const s = this.require()
    if (peer === this.ctx.self || s.authorised.includes(peer)) return
    await this.ctx.store.update(st => {
      st.authorised.push(peer)
      st.revoked = (st.revoked ?? []).filter(x => x !== peer)
      st.seq = nextSeq(st)
    })
    this.ctx.log.info({ peer }, 'authorised peer')
    await this.broadcastMembers(options)
  }

  /**
   * Removes `peer`, remembers it as revoked, voids every outstanding invite (invites are bearer
   * tokens: one the revoked peer kept would let it back in under a fresh identity), tells and cuts
   * it; the caller rotates.
   */
  async revoke (peer: string, options?: AbortOptions): Promise<void> {
    const s = this.require()
    const was = s.authorised.includes(peer)
    await this.ctx.store.update(st => {
      st.authorised = st.authorised.filter(x => x !== peer)
      const revoked = (st.revoked ?? []).filter(x => x !== peer)
      revoked.push(peer)
      st.revoked = revoked.slice(-MAX_REVOKED)
      st.invites = []
      st.seq = nextSeq(st)
    })
    this.ctx.log.info({ peer }, 'revoked peer; outstanding invites voided')
    if (was && this.ctx.inSwarm() && this.ctx.network.isConnected(peer)) {
      // tell it, so it leaves cleanly instead of retrying; then cut it off
      await this.ctx.send(peer, { t: 'revoked', swarm: s.name }, options).catch(() => {})
      await this.ctx.network.hangUp(peer).catch(() => {})
    }
    await this.broadcastMembers(options)
  }

  async invite (ttlMs: number = DAY): Promise<string> {
    const s = this.require()
    if (!s.joined || this.keyService == null) throw new SwarmStateError('the creator must be in its swarm to invite')
    const secret = newInviteSecret()
    const expiresAt = Date.now() + ttlMs
    await this.ctx.store.update(st => {
      const now = Date.now()
      st.invites = st.invites.filter(i => i.expiresAt > now)
      st.invites.push({ hash: hashInviteSecret(secret), expiresAt })
    })
    return formatInvite({ name: s.name, creator: this.ctx.self, addrs: s.keyService, secret, expiresAt })
  }

  /** New key epoch: pushed sealed to the members, persisted, then everyone switches. Run inside `op`. */
  async rotate (options?: AbortOptions): Promise<RotateResult> {
    const s = this.require()
    if (!s.joined) throw new SwarmStateError('the creator must be in its swarm to rotate')
    const { ctx } = this
    const epoch = s.epoch + 1
    const psk = Buffer.from(generateSwarmKey()).toString('hex')
    // connected members first-class; others get a short try (they recover via the key service)
    const members = [...s.authorised]
    const bootstrap = await this.currentBootstrap()
    const payload: KeyPayload = { swarm: s.name, epoch, psk, creator: ctx.self, authorised: [...s.authorised], bootstrap, keyService: s.keyService, issuedAt: Date.now(), members: await this.statement(epoch) }
    const bytes = new TextEncoder().encode(JSON.stringify(payload))
    const delivered: string[] = []
    const failed: string[] = []
    await Promise.all(members.map(async p => {
      try {
        const env = await sealTo(ctx.privateKey, ctx.self, p, bytes)
        const reply = await ctx.send(p, { t: 'push', env }, options, ctx.network.isConnected(p) ? undefined : 2000)
        if (reply.t === 'ok') delivered.push(p)
        else failed.push(p)
      } catch (err) {
        ctx.log.warn({ peer: p, err }, 'key push failed')
        failed.push(p)
      }
    }))
    // from here on the new key is the swarm's: persisted before anyone switches
    await ctx.store.update(st => {
      st.epoch = epoch
      st.psk = psk
      st.bootstrap = bootstrap
    })
    await Promise.all(delivered.map(async p => {
      await ctx.send(p, { t: 'switch', swarm: s.name, epoch }, options).catch((err) => {
        ctx.log.warn({ peer: p, err }, 'switch notice failed; the member will recover')
      })
    }))
    await ctx.network.switchProfile(ctx.swarmProfile(s), options)
    await ctx.store.update(st => { st.bootstrap = ctx.mergeOwnAddrs(st.bootstrap) })
    ctx.log.info({ swarm: s.name, epoch, delivered: delivered.length, failed: failed.length }, 'rotated swarm key')
    ctx.emit('swarm:epoch', { name: s.name, epoch })
    return { epoch, delivered, failed }
  }

  /** Tells connected members the authorised list changed (best effort; the others sync later). */
  async broadcastMembers (options?: AbortOptions): Promise<void> {
    const s = this.ctx.state
    if (s == null || s.role !== 'creator' || !this.ctx.inSwarm()) return
    const msg = await this.membersMessage()
    await Promise.allSettled(s.authorised.filter(p => this.ctx.network.isConnected(p)).map(async p => await this.ctx.send(p, msg, options)))
  }

  private async membersMessage (): Promise<SwarmMessage> {
    const s = this.require()
    return { t: 'members', swarm: s.name, authorised: [...s.authorised], bootstrap: await this.currentBootstrap(), stmt: await this.statement() }
  }

  private refuse (remote: string, via: string, code: ErrorCode, message: string): SwarmMessage {
    this.refused++
    const suppressed = this.refusalLog.take(`${remote}\0${code}`)
    if (suppressed != null) this.ctx.log.warn({ peer: remote, code, via, suppressedSinceLast: suppressed }, `refused swarm key request: ${message}`)
    this.ctx.emit('swarm:refused', { peerId: remote, reason: code })
    return { t: 'err', code, message }
  }

  /** `get`: the current key sealed to an authorised requester (or one redeeming a valid invite). */
  async serveKey (remote: string, msg: Extract<SwarmMessage, { t: 'get' }>, via: string): Promise<SwarmMessage> {
    const s = this.ctx.state
    if (s == null || s.role !== 'creator' || !s.joined) return this.refuse(remote, via, 'unknown-swarm', 'this node serves no swarm')
    if (typeof msg.swarm !== 'string' || (msg.swarm !== '' && msg.swarm !== s.name)) return this.refuse(remote, via, 'unknown-swarm', 'unknown swarm name')
    if (msg.invite != null) {
      const hash = hashInviteSecret(String(msg.invite))
      const now = Date.now()
      const i = s.invites.findIndex(x => x.hash === hash && x.expiresAt > now)
      if (i < 0) return this.refuse(remote, via, 'bad-invite', 'invite unknown, used or expired')
      const revoked = s.revoked?.includes(remote) === true
      await this.ctx.store.update(st => {
        st.invites = st.invites.filter(x => x.hash !== hash)
        if (!revoked && !st.authorised.includes(remote) && remote !== this.ctx.self) {
          st.authorised.push(remote)
          st.seq = nextSeq(st)
        }
      })
      // a revoked peer's invites are void: the invite is used up, the peer stays out
      if (revoked) return this.refuse(remote, via, 'unauthorized', 'peer was revoked; its invites are void')
      this.ctx.log.info({ peer: remote }, 'invite redeemed; peer authorised')
      void this.broadcastMembers().catch(() => {})
    }
    if (!s.authorised.includes(remote)) return this.refuse(remote, via, 'unauthorized', 'peer is not authorised in this swarm')
    const payload: KeyPayload = { swarm: s.name, epoch: s.epoch, psk: s.psk, creator: this.ctx.self, authorised: [...s.authorised], bootstrap: await this.currentBootstrap(), keyService: s.keyService, issuedAt: Date.now(), members: await this.statement() }
    const env = await sealTo(this.ctx.privateKey, this.ctx.self, remote, new TextEncoder().encode(JSON.stringify(payload)))
    this.ctx.log.info({ peer: remote, epoch: s.epoch, via }, 'served swarm key')
    return { t: 'key', env }
  }

  /** `sync`: a fresh membership statement for an authorised member. */
  async serveSync (remote: string, msg: Extract<SwarmMessage, { t: 'sync' }>, via: string): Promise<SwarmMessage> {
    const s = this.ctx.state
    if (s == null || s.role !== 'creator' || !s.joined || msg.swarm !== s.name) return this.refuse(remote, via, 'unknown-swarm', 'this node serves no such swarm')
    if (!s.authorised.includes(remote)) return this.refuse(remote, via, 'unauthorized', 'peer is not authorised in this swarm')
    return await this.membersMessage()
  }
}

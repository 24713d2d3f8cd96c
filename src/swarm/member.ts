/**
 * The member role: fetch the key from the creator (invite, address or recovery), follow the
 * creator's pushes (new key, switch, members, revoked), keep a fresh creator-signed membership
 * statement, and find the way back in after missing a rotation.
 *
 * Revocation reaches every member through the statement: a member admits peers other than the
 * creator only while it holds a statement it received from the creator within
 * `membershipMaxAgeMs`. It asks for one on every (re)connection to the creator and every
 * `membershipRefreshMs`; after a restart it trusts nobody but the creator until it has one. A
 * member that cannot refresh it in time narrows its allow-list to the creator, drops the other
 * connections, and recovers through the creator's key service.
 */
import { SwarmProtocolError } from './errors.js'
import { fetchKeyFrom, withKeyServiceDialer, type KeyServiceDialer } from './key-client.js'
import { verifyMembership, type MembershipStatement } from './membership.js'
import { openSealed } from './seal.js'
import type { SwarmContext } from './context.js'
import { sleep } from '../util/sleep.js'
import { decodePayload, type KeyPayload, type SwarmMessage } from './wire.js'
import type { SwarmState } from './state.js'
import type { AbortOptions } from '@libp2p/interface'

export interface MemberInit {
  rejoinTimeoutMs: number
  watchdogIntervalMs: number
  membershipRefreshMs: number
  membershipMaxAgeMs: number
}

/** Longest wait between two recovery attempts while the creator stays unreachable. */
const MAX_RECOVERY_BACKOFF_MS = 5 * 60_000

/** True when `err` (or anything in its cause chain) is a TCP connection refusal. */
function isConnectionRefused (err: unknown, depth = 0): boolean {
  if (err == null || typeof err !== 'object' || depth > 6) return false
  const e = err as { code?: unknown, cause?: unknown, errors?: unknown }
  if (e.code === 'ECONNREFUSED') return true
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(x => isConnectionRefused(x, depth + 1))) return true
  return isConnectionRefused(e.cause, depth + 1)
}

export class MemberRole {
  /** Full payload of a pushed-but-not-yet-switched key (bootstrap, statement). */
  private pendingPayload?: KeyPayload
  /** Local time the current statement was received from the creator (not persisted: a restart starts stale). */
  private freshAt?: number
  private syncing?: Promise<void>
  private checking = false
  private recoveryBackoff = 0
  private nextRecoveryAt = 0

  constructor (private readonly ctx: SwarmContext, private readonly init: MemberInit) {}

  private get state (): SwarmState | undefined {
    const s = this.ctx.state
    return s?.role === 'member' ? s : undefined
  }

  fresh (now = Date.now()): boolean {
    return this.freshAt != null && now - this.freshAt <= this.init.membershipMaxAgeMs
  }

  /** Forget freshness (restart, leave): only the creator is admitted until a new statement arrives. */
  resetTrust (): void {
    this.freshAt = undefined
    this.ctx.store.setTrustMembers(false)
  }

  /** Checks a statement against the held one: right swarm and creator, signed, never older. */
  private async checkStatement (raw: unknown, s: SwarmState, epoch: number): Promise<MembershipStatement> {
    const stmt = await verifyMembership(raw, s.creator, s.name)
    if (stmt.epoch < epoch) throw new SwarmProtocolError(`membership statement for epoch ${stmt.epoch}, older than ${epoch}`)
    const held = s.members
    if (held != null && (stmt.epoch < held.epoch || (stmt.epoch === held.epoch && stmt.seq < held.seq))) {
      throw new SwarmProtocolError(`membership statement revision ${stmt.seq} is older than the held ${held.seq}`)
    }
    return stmt
  }

  /** Applies a verified statement received from the creator: new allow-list, now fresh. */
  private async applyStatement (stmt: MembershipStatement, bootstrap?: string[]): Promise<void> {
    await this.ctx.store.update(st => {
      st.members = stmt
      st.authorised = stmt.authorised.filter(x => x !== st.creator)
      if (bootstrap != null && bootstrap.length > 0) st.bootstrap = bootstrap
    })
    this.freshAt = Date.now()
    this.ctx.store.setTrustMembers(true)
    this.ctx.dropDisallowed()
  }

  /** Asks the connected creator for a fresh statement (one at a time). */
  async sync (): Promise<void> {
    this.syncing ??= (async () => {
      const s = this.state
      if (s == null || !this.ctx.inSwarm() || !this.ctx.network.isConnected(s.creator)) return
      const reply = await this.ctx.send(s.creator, { t: 'sync', swarm: s.name, seq: s.members?.seq })
      if (reply.t === 'err' && reply.code === 'unauthorized') {
        this.ctx.log.warn({ swarm: s.name }, 'the creator no longer lists us; recovering')
        this.recoverSoon()
        return
      }
      if (reply.t !== 'members') throw new SwarmProtocolError(`unexpected reply ${reply.t} to sync`)
      const stmt = await this.checkStatement(reply.stmt, s, s.epoch)
      const boot = Array.isArray(reply.bootstrap) ? (reply.bootstrap as unknown[]).filter((x): x is string => typeof x === 'string' && x.startsWith('/')) : []
      await this.applyStatement(stmt, boot)
    })().finally(() => { this.syncing = undefined })
    await this.syncing
  }

  /** Called when the creator (re)connects: fetch its current view before trusting anyone else. */
  onCreatorConnected (): void {
    void this.sync().catch((err: unknown) => { this.ctx.log.debug({ err }, 'membership sync failed') })
  }

  /**
   * Dials the swarm's bootstrap addresses (bounded by `timeoutMs`) until the creator is connected;
   * true if by then at least one admitted peer is (the swarm works without its creator).
   * Gives up early (false) when nothing listens any more at any of the creator's known addresses
   * for 2 s: the creator moved (a listen port of 0 picks a new port at every host switch), and
   * only its key service can tell us where it is now.
   */
  async ensureConnected (timeoutMs: number, options?: AbortOptions): Promise<boolean> {
    const { ctx } = this
    const deadline = Date.now() + timeoutMs
    let refusedSince: number | undefined
    while (ctx.started && Date.now() < deadline) {
      options?.signal?.throwIfAborted()
      const s = ctx.state
      if (s == null || !ctx.inSwarm()) return false
      if (ctx.network.isConnected(s.creator)) return true
      const targets = s.bootstrap.filter(a => {
        const peer = /\/p2p\/([^/]+)$/.exec(a)?.[1]
        return peer != null && peer !== ctx.self && ctx.store.allowed.has(peer) && !ctx.network.isConnected(peer)
      })
      const wait = Math.max(100, Math.min(3000, deadline - Date.now()))
      const results = await Promise.allSettled(targets.map(async a => await ctx.network.dial(a, { signal: AbortSignal.timeout(wait) })))
      if (ctx.network.isConnected(s.creator)) return true
      const creatorResults = results.filter((_, i) => targets[i]!.endsWith(`/p2p/${s.creator}`))
      const allRefused = creatorResults.length > 0 && creatorResults.every(r => r.status === 'rejected' && isConnectionRefused(r.reason))
      if (!allRefused) {
        refusedSince = undefined
      } else {
        refusedSince ??= Date.now()
        if (Date.now() - refusedSince >= 2000 && ctx.connectedMembers().length === 0) return false
      }
      await sleep(200)
    }
    return ctx.connectedMembers().length > 0
  }

  /** Watchdog tick: refresh the statement, narrow trust when stale, reconnect or recover. */
  async check (): Promise<void> {
    const { ctx } = this
    const s = this.state
    if (this.checking || s == null || !s.joined || !ctx.network.started || !ctx.started) return
    this.checking = true
    try {
      const now = Date.now()
      if (ctx.inSwarm() && ctx.network.isConnected(s.creator) && (this.freshAt == null || now - this.freshAt >= this.init.membershipRefreshMs)) {
        await this.sync().catch((err: unknown) => { ctx.log.debug({ err }, 'membership sync failed') })
      }
      if (!this.fresh() && ctx.store.trustsMembers) {
        ctx.log.warn({ swarm: s.name }, 'membership statement is stale: admitting only the creator until it is refreshed')
        ctx.store.setTrustMembers(false)
        ctx.dropDisallowed()
      }
      if (ctx.inSwarm() && this.fresh() && ctx.connectedMembers().length > 0) return
      if (ctx.inSwarm() && ctx.network.isConnected(s.creator)) return // a sync is under way or will be retried
      if (ctx.inSwarm() && await this.ensureConnected(Math.min(this.init.rejoinTimeoutMs, 3000))) {
        if (ctx.network.isConnected(s.creator) || this.fresh()) return
      }
      if (Date.now() < this.nextRecoveryAt) return
      await ctx.store.op(async () => { await this.recover() })
    } catch (err) {
      ctx.log.warn({ err }, 'swarm watchdog check failed')
    } finally {
      this.checking = false
    }
  }

  /**
   * Asks the creator (at `addrs`) for the current key; typed errors for a refusal (key-client.ts).
   * Always from a dialer of its own, never the node's host: the key service shares the creator's
   * peer id, and the host's own dial to that id (a bootstrap redial to the creator's old public
   * address, now behind the PSK, stalling until its timeout) would absorb ours (libp2p joins dials
   * to one peer id): joins in the scale bench timed out three rounds in a row that way.
   */
  async fetchKey (addrs: string[], creator: string, name: string | undefined, invite: string | undefined, epoch: number | undefined, options?: AbortOptions, dial?: KeyServiceDialer): Promise<KeyPayload> {
    if (dial == null) return await withKeyServiceDialer(this.ctx.privateKey, async d => await this.fetchKey(addrs, creator, name, invite, epoch, options, d))
    return await fetchKeyFrom(this.ctx, { addrs, creator, name, invite, epoch, dial }, options)
  }

  /**
   * Makes a payload fetched from the creator our state. Never goes back to an older epoch of the
   * swarm we hold (`SwarmProtocolError`): a creator restored from an old backup, or a replayed
   * reply, must not undo a rotation.
   */
  async applyPayload (p: KeyPayload): Promise<void> {
    const prev = this.ctx.state
    const same = prev != null && prev.name === p.swarm && prev.creator === p.creator
    if (same && p.epoch < prev.epoch) throw new SwarmProtocolError(`the creator offered epoch ${p.epoch}, older than the held ${prev.epoch}`)
    const base: SwarmState = {
      version: 1,
      name: p.swarm,
      role: 'member',
      creator: p.creator,
      epoch: p.epoch,
      psk: p.psk,
      authorised: p.authorised.filter(x => x !== p.creator),
      bootstrap: p.bootstrap,
      keyService: p.keyService.length > 0 ? p.keyService : (prev?.keyService ?? []),
      joined: true,
      invites: [],
      ...(same && prev.members != null ? { members: prev.members } : {})
    }
    let stmt: MembershipStatement | undefined
    try {
      stmt = p.members != null ? await this.checkStatement(p.members, base, p.epoch) : undefined
    } catch (err) {
      this.ctx.log.warn({ err }, 'the key payload carries no valid membership statement')
    }
    this.pendingPayload = undefined
    this.freshAt = undefined
    this.ctx.store.setTrustMembers(false)
    await this.ctx.store.replace(base)
    if (stmt != null) await this.applyStatement(stmt)
  }

  recoverSoon (): void {
    void this.ctx.store.op(async () => { await this.recover() }).catch((err: unknown) => {
      this.ctx.log.warn({ err }, 'swarm recovery failed; the watchdog will try again')
    })
  }

  /**
   * A member that cannot reach the swarm with its key (it missed a rotation, the swarm moved) or
   * cannot refresh its statement: go back to the public network, ask the creator's key service
   * for the current key with our identity, and re-enter. Refused -> revoked: stay public. Run
   * inside `op`.
   */
  async recover (): Promise<void> {
    const { ctx } = this
    const s = this.state
    if (s == null || !s.joined || !ctx.started) return
    if (ctx.inSwarm() && ctx.network.isConnected(s.creator) && this.fresh()) return
    ctx.log.info({ swarm: s.name, epoch: s.epoch }, 'cannot reach the swarm or refresh its membership; asking the creator for the current key')
    ctx.emit('swarm:recovering', { name: s.name, epoch: s.epoch })
    await ctx.toPublic()
    let payload: KeyPayload
    try {
      payload = await this.fetchKey(s.keyService, s.creator, s.name, undefined, s.epoch)
      await this.applyPayload(payload)
    } catch (err) {
      if ((err as Error).name === 'SwarmUnauthorizedError') {
        await this.leaveRevoked(s.name)
        return
      }
      this.recoveryBackoff = Math.min(MAX_RECOVERY_BACKOFF_MS, Math.max(this.init.watchdogIntervalMs, this.recoveryBackoff * 2))
      this.nextRecoveryAt = Date.now() + this.recoveryBackoff
      ctx.log.warn({ err, retryInMs: this.recoveryBackoff }, 'swarm creator unreachable or its reply refused; retrying with the key held')
      await ctx.network.switchProfile(ctx.swarmProfile(s))
      return
    }
    this.recoveryBackoff = 0
    this.nextRecoveryAt = 0
    const st = ctx.state!
    await ctx.network.switchProfile(ctx.swarmProfile(st))
    if (payload.epoch !== s.epoch) ctx.emit('swarm:epoch', { name: payload.swarm, epoch: payload.epoch })
    await this.ensureConnected(this.init.rejoinTimeoutMs)
  }

  /** The creator refused us the key: we are out of the swarm, on the public network, for good. */
  private async leaveRevoked (name: string): Promise<void> {
    await this.ctx.store.update(st => { st.joined = false })
    await this.ctx.toPublic()
    this.ctx.log.warn({ swarm: name }, 'no longer authorised in the swarm; staying on the public network')
    this.ctx.emit('swarm:revoked', { name })
  }

  /** Dials the creator's swarm addresses for up to `timeoutMs`; true once connected. */
  private async reachCreator (creator: string, bootstrap: string[], timeoutMs: number): Promise<boolean> {
    const addrs = bootstrap.filter(a => a.endsWith(`/p2p/${creator}`))
    await Promise.allSettled(addrs.map(async a => await this.ctx.network.dial(a, { signal: AbortSignal.timeout(timeoutMs) })))
    return this.ctx.network.isConnected(creator)
  }

  /**
   * The creator's connection closed and it does not answer on its swarm addresses: did we miss a
   * rotation? Asks its key service from a dialer of our own (key-client.ts), so the member stays
   * in the swarm while it asks. A newer epoch is applied and switched to at once (a rotation whose
   * push missed us); the same epoch refreshes the statement and the creator's addresses. Run
   * inside `op`; `epoch` is the one held when the creator went away (a switch since: nothing to
   * do). Throws `DialError` when the key service cannot be reached (the caller backs off).
   */
  async probeEpoch (epoch: number): Promise<'skipped' | 'current' | 'moved' | 'revoked'> {
    const { ctx } = this
    const s = this.state
    if (s == null || !s.joined || !ctx.started || !ctx.inSwarm() || s.epoch !== epoch) return 'skipped'
    if (ctx.network.isConnected(s.creator) || await this.reachCreator(s.creator, s.bootstrap, 3000)) return 'skipped'
    let payload: KeyPayload
    try {
      payload = await this.fetchKey(s.keyService, s.creator, s.name, undefined, s.epoch)
    } catch (err) {
      if ((err as Error).name !== 'SwarmUnauthorizedError') throw err
      await this.leaveRevoked(s.name)
      return 'revoked'
    }
    if (payload.epoch <= s.epoch) {
      const stmt = payload.members != null ? await this.checkStatement(payload.members, s, s.epoch).catch(() => undefined) : undefined
      if (stmt != null) await this.applyStatement(stmt, payload.bootstrap)
      return 'current'
    }
    ctx.log.info({ swarm: s.name, held: s.epoch, epoch: payload.epoch }, 'missed a key rotation: switching to the current key from the creator\'s key service')
    await this.applyPayload(payload)
    await ctx.network.switchProfile(ctx.swarmProfile(ctx.state!))
    ctx.emit('swarm:epoch', { name: payload.swarm, epoch: payload.epoch })
    await this.ensureConnected(this.init.rejoinTimeoutMs)
    return 'moved'
  }

  /** Switch to the key pushed for `epoch`. Run inside `op`. */
  async applyPending (epoch: number): Promise<void> {
    const { ctx } = this
    const s = this.state
    if (s?.pending == null || s.pending.epoch !== epoch) return
    const pp = this.pendingPayload?.epoch === epoch ? this.pendingPayload : undefined
    let stmt: MembershipStatement | undefined
    if (pp?.members != null) stmt = await this.checkStatement(pp.members, s, epoch).catch(() => undefined)
    if (stmt != null) await this.applyStatement(stmt, pp?.bootstrap)
    // switch first, then record the epoch: status() never reports an epoch the host is not on yet
    // (a crash in between restarts on the old key and recovers through the key service)
    await ctx.network.switchProfile(ctx.swarmProfile({ ...s, psk: s.pending.psk }))
    await ctx.store.update(st => {
      st.epoch = epoch
      st.psk = st.pending?.psk ?? st.psk
      if (pp != null) {
        st.bootstrap = pp.bootstrap
        if (stmt == null) st.authorised = pp.authorised.filter(x => x !== st.creator)
      }
      delete st.pending
    })
    this.pendingPayload = undefined
    ctx.log.info({ swarm: s.name, epoch }, 'switched to new swarm key')
    ctx.emit('swarm:epoch', { name: s.name, epoch })
    if (!await this.ensureConnected(this.init.rejoinTimeoutMs)) await this.recover()
  }

  /** Member side of the creator's pushes; `after` runs once the reply is flushed. */
  async onCreatorMessage (msg: SwarmMessage): Promise<{ reply: SwarmMessage, after?: () => void }> {
    const { ctx } = this
    const s = this.state!
    switch (msg.t) {
      case 'push': {
        const { plaintext } = await openSealed(ctx.privateKey, ctx.self, msg.env, s.creator)
        const p = decodePayload(plaintext)
        if (p.swarm !== s.name || p.creator !== s.creator) return { reply: { t: 'err', code: 'unknown-swarm', message: 'not my swarm' } }
        // an old epoch's key (a replayed push) changes nothing
        if (p.epoch <= s.epoch) return { reply: { t: 'ok', epoch: s.epoch } }
        this.pendingPayload = p
        await ctx.store.update(st => { st.pending = { epoch: p.epoch, psk: p.psk } })
        return { reply: { t: 'ok', epoch: p.epoch } }
      }
      case 'switch': {
        if (msg.epoch === s.epoch) return { reply: { t: 'ok', epoch: s.epoch } }
        if (s.pending?.epoch !== msg.epoch) return { reply: { t: 'err', code: 'stale', message: `no key held for epoch ${msg.epoch}` } }
        const epoch = msg.epoch
        return { reply: { t: 'ok', epoch }, after: () => { void ctx.store.op(async () => { await this.applyPending(epoch) }).catch(err => { ctx.log.warn({ err }, 'switching to the new key failed') }) } }
      }
      case 'members': {
        let stmt: MembershipStatement
        try {
          stmt = await this.checkStatement(msg.stmt, s, s.epoch)
        } catch (err) {
          return { reply: { t: 'err', code: 'bad-request', message: (err as Error).message } }
        }
        const boot = Array.isArray(msg.bootstrap) ? (msg.bootstrap as unknown[]).filter((x): x is string => typeof x === 'string' && x.startsWith('/')) : []
        await this.applyStatement(stmt, boot)
        return { reply: { t: 'ok' } }
      }
      case 'revoked': {
        return {
          reply: { t: 'ok' },
          after: () => {
            void ctx.store.op(async () => {
              await ctx.store.update(st => { st.joined = false })
              await ctx.toPublic()
              ctx.log.warn({ swarm: s.name }, 'revoked by the swarm creator; back on the public network')
              ctx.emit('swarm:revoked', { name: s.name })
            }).catch((err: unknown) => { ctx.log.warn({ err }, 'could not return to the public network after revocation') })
          }
        }
      }
      default:
        return { reply: { t: 'err', code: 'bad-request', message: `unexpected ${msg.t}` } }
    }
  }
}

/**
 * `createVpn`: IP over libp2p between the members of one private network. This file owns the
 * lifecycle (start, stop, resume), the control protocol (push, fetch, bye) and applying a
 * membership to the device; the parts it ties together each own one job:
 *
 *   authority.ts   addresses and new memberships (on the node that started the VPN)
 *   member.ts      whether a received membership is applied, ignored or refused
 *   policy.ts      what a membership may do to this host (prefixes, addresses, routes)
 *   datapath.ts    TUN <-> member links, route table, inbound checks, drop counters
 *   dialler.ts     tunnel streams to members
 *   state-store.ts the persisted membership and address plan
 *
 * Control builds a new membership snapshot and a new route table and swaps them in. The node that
 * starts the VPN is its authority: it assigns addresses, persists them, and pushes each snapshot to
 * every member; members persist the last snapshot they accepted so a restart resumes it.
 */
import { configDefaults } from '../config/schema.js'
import { TypedEventEmitter } from 'main-event'
import { InvalidArgumentError } from '../errors.js'
import { createAddressPlan, type AddressPlan } from './address-plan.js'
import { memberFor, startMembership } from './authority.js'
import { answer, CONTROL_PROTOCOL, serve, tell, type ControlReply, type ControlRequest } from './control.js'
import { DataPath } from './datapath.js'
import { createDialler, type Dialler } from './dialler.js'
import { sleep } from '../util/sleep.js'
import { createSerialQueue } from '../util/serial.js'
import { LocalDevice } from './device.js'
import { NotAuthorityError, VpnNotRunningError } from './errors.js'
import { createJobNetwork, type JobAttachment, type JobNetwork, type PortMappingInfo } from './jobs.js'
import { dialHints, judgeMembership } from './member.js'
import { registerVpnMetrics } from './metrics.js'
import { createMembershipPolicy, type MembershipPolicy } from './policy.js'
import { createStateStore, type StateStore } from './state-store.js'
import type { CreateVpnOptions, Vpn, VpnEvents } from './api.js'
import type { VpnMember, VpnMembership } from './membership.js'
import { createMembershipRefresher, type MembershipRefresher } from './refresh.js'
import { createMembershipPusher, DEFAULT_PUSH_RETRY_MS, type MembershipPusher } from './push.js'
import { buildStatus } from './status.js'
import type { VpnPeerSpec, VpnStatus } from './types.js'
import type { Logger } from '../logging.js'
import type { Network } from '../network/types.js'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'

export type { CreateVpnOptions, Vpn, VpnConfig, VpnEvents } from './api.js'

export const DATA_PROTOCOL_PREFIX = '/dmsnet/vpn/1.0.0'

class DmsnetVpn extends TypedEventEmitter<VpnEvents> implements Vpn {
  readonly peerId: string
  private readonly network: Network
  private readonly opts: CreateVpnOptions
  private readonly log?: Logger
  private readonly store: StateStore
  private readonly policy: MembershipPolicy
  private readonly offload: boolean
  private readonly dataProtocol: string
  private readonly data: DataPath
  private readonly dialler: Dialler

  /** The membership as received and persisted. */
  private current: VpnMembership | undefined
  /** `current` as applied here (routes this node does not accept stripped). */
  private applied: VpnMembership | undefined
  private plan: AddressPlan | undefined
  private readonly device: LocalDevice
  private running = false
  /** The membership we hold could not be applied (its device did not open): a push or refresh of it tries again. */
  private applyFailed = false
  private applyError: string | undefined // what left applyFailed set, for status()
  private handlersUp = false
  private readonly queue = createSerialQueue()
  private readonly counts = { refused: 0, invitationsRefused: 0, switches: 0, routesStripped: 0 }
  private readonly jobs: JobNetwork
  private readonly refresher: MembershipRefresher
  private readonly pusher: MembershipPusher

  constructor (opts: CreateVpnOptions) {
    super()
    this.opts = opts
    this.network = opts.network
    this.peerId = opts.network.peerId.toString()
    this.log = opts.logger
    this.store = createStateStore(opts.config.dataDir)
    this.policy = createMembershipPolicy(opts.config)
    this.offload = opts.offload ?? true
    this.dataProtocol = `${DATA_PROTOCOL_PREFIX}/${this.offload ? 'vnet' : 'raw'}`
    this.data = new DataPath({
      selfPeerId: this.peerId,
      offload: this.offload,
      maxQueueBytes: opts.maxQueueBytes ?? 4 * 1024 * 1024,
      log: this.log,
      onStreamClosed: (link) => { this.dialler.ensure(link) }
    })
    this.dialler = createDialler({
      network: this.network,
      selfPeerId: this.peerId,
      dataProtocol: this.dataProtocol,
      maxRedialDelayMs: opts.maxRedialDelayMs,
      log: this.log,
      isCurrent: (link) => this.running && this.data.links.get(link.peerId) === link
    })
    if (opts.metrics != null) {
      registerVpnMetrics(opts.metrics, {
        links: () => this.data.links.values(),
        dropNoRoute: () => this.data.dropNoRoute,
        dropNotMember: () => this.data.dropNotMember,
        refused: () => this.counts.refused + this.counts.invitationsRefused,
        refusedRepeats: () => this.refresher.stats.refusedRepeats,
        dns: () => this.device.dnsStats
      })
    }
    this.refresher = createMembershipRefresher({
      network: this.network,
      log: this.log,
      intervalMs: opts.membershipRefreshMs,
      current: () => this.current,
      fetch: async (authority, networkId) => await this.tell(authority, { type: 'fetch', networkId }),
      // a fetch still in flight when the VPN stops must not bring the device back
      accept: async (from, m) => { await this.serial(async () => { if (this.running || this.applyFailed) await this.accept(from, m) }) }
    })
    this.pusher = createMembershipPusher({
      network: this.network,
      selfPeerId: this.peerId,
      log: this.log,
      send: async (peerId, m, options) => await this.tell(peerId, { type: 'membership', membership: m }, options),
      firstRetryMs: opts.pushRetryMs ?? (process.env.DMSNET_VPN_PUSH_RETRY === '0' ? 0 : DEFAULT_PUSH_RETRY_MS),
      ...(opts.pushRetryMaxMs != null ? { maxRetryMs: opts.pushRetryMaxMs } : {})
    })
    this.device = new LocalDevice({
      tun: opts.tun,
      config: opts.config,
      offload: this.offload,
      data: this.data,
      log: this.log,
      resolve: (name) => {
        const x = this.applied?.members.find(y => y.name === name)
        return x == null ? undefined : { ipv4: x.ipv4, ipv6: x.ipv6 }
      }
    })
    this.jobs = createJobNetwork({
      subnet: opts.jobSubnet,
      tunName: () => this.data.tun?.name,
      vpnAddress: () => this.current?.members.find(m => m.peerId === this.peerId)?.ipv4,
      vpnCidr: () => this.current?.cidr,
      congestionControl: opts.config.congestionControl ?? configDefaults.vpn.congestionControl
    })
  }

  async attachNamespace (netns: string, options?: AbortOptions): Promise<JobAttachment> {
    if (!this.running) throw new VpnNotRunningError('the VPN is not running')
    return await this.jobs.attach(netns, options)
  }

  async detachNamespace (netns: string, options?: AbortOptions): Promise<void> {
    await this.jobs.detach(netns, options)
  }

  async mapPort (mapping: { protocol: 'tcp' | 'udp', port: number, to: { address: string, port?: number } }, options?: AbortOptions): Promise<PortMappingInfo> {
    if (!this.running) throw new VpnNotRunningError('the VPN is not running')
    return await this.jobs.mapPort(mapping, options)
  }

  async unmapPort (id: string, options?: AbortOptions): Promise<void> {
    await this.jobs.unmapPort(id, options)
  }

  // ---------------------------------------------------------------- lifecycle

  async init (): Promise<void> {
    if (this.handlersUp) return
    await this.network.handle(this.dataProtocol, (stream, conn) => { this.data.onDataStream(stream, conn) }, { runOnLimitedConnection: true, maxInboundStreams: 4, maxOutboundStreams: 4 })
    await this.network.handle(CONTROL_PROTOCOL, (stream, conn) => { void this.onControlStream(stream, conn) }, { runOnLimitedConnection: true, maxInboundStreams: 16 })
    this.handlersUp = true
  }

  async start (peers?: VpnPeerSpec[], options?: AbortOptions): Promise<VpnStatus> {
    return await this.serial(async () => {
      await this.init()
      const saved = await this.store.load()
      if (peers == null) {
        const m = saved.membership
        if (m != null && m.members.some(x => x.peerId === this.peerId)) {
          const ours = m.authority === this.peerId
          if (ours && saved.plan != null) this.plan = createAddressPlan({ saved: saved.plan })
          // the state file is checked like any membership: it may have been written by an older version, or edited
          await this.apply(m, this.policy.check(m, ours).effective, options)
          if (!ours) void this.refresher.pull()
          else void this.pusher.push(m)
        }
        return this.status()
      }
      // Becoming (or staying) the authority.
      const { plan, next, dropped } = startMembership(this.network, this.opts.config, saved, peers, this.opts.name)
      this.plan = plan
      await this.commit(next, options)
      for (const old of dropped) void this.tell(old.peerId, { type: 'membership', membership: { ...next, members: [] } })
      return this.status()
    })
  }

  async addPeer (peer: VpnPeerSpec, options?: AbortOptions): Promise<VpnMember> {
    return await this.serial(async () => {
      const cur = this.requireAuthority()
      const existing = cur.members.find(m => m.peerId === peer.peerId)
      const others = cur.members.filter(m => m.peerId !== peer.peerId)
      const member = memberFor({ network: this.network, selfPeerId: this.peerId, plan: this.plan! }, peer, others, existing)
      await this.commit({ ...cur, version: cur.version + 1, members: [...others, member] }, options)
      return member
    })
  }

  async removePeer (peerId: string, options?: AbortOptions): Promise<void> {
    await this.serial(async () => {
      const cur = this.requireAuthority()
      if (peerId === this.peerId) throw new InvalidArgumentError('the authority cannot remove itself; use stop({ forget: true })')
      if (!cur.members.some(m => m.peerId === peerId)) return
      this.plan!.release(peerId)
      const next = { ...cur, version: cur.version + 1, members: cur.members.filter(m => m.peerId !== peerId) }
      await this.commit(next, options)
      // The removed peer learns it is out (an empty membership of the same VPN); its access is
      // already gone: every member refuses its packets from the new snapshot on.
      await this.tell(peerId, { type: 'membership', membership: { ...next, members: [] } }, options)
    })
  }

  async stop (options?: AbortOptions & { forget?: boolean }): Promise<void> {
    await this.serial(async () => {
      // no push of ours may reach a member after our goodbye (or the dissolution)
      await this.pusher.stop()
      const cur = this.current
      if (cur != null) {
        const others = cur.members.filter(m => m.peerId !== this.peerId)
        if (options?.forget === true && cur.authority === this.peerId) {
          const dissolved = { ...cur, version: cur.version + 1, members: [] }
          await Promise.all(others.map(async m => { await this.tell(m.peerId, { type: 'membership', membership: dissolved }, options) }))
        } else {
          await Promise.all(others.map(async m => { await this.tell(m.peerId, { type: 'bye', networkId: cur.networkId }, options) }))
        }
      }
      await this.teardown('stopped')
      if (options?.forget === true) {
        this.current = undefined
        this.applied = undefined
        this.plan = undefined
        await this.store.forget()
      }
      if (this.handlersUp) {
        await this.network.unhandle(this.dataProtocol).catch(() => {})
        await this.network.unhandle(CONTROL_PROTOCOL).catch(() => {})
        this.handlersUp = false
      }
    })
  }

  membership (): VpnMembership | undefined {
    return this.applied
  }

  status (): VpnStatus {
    return buildStatus({
      selfPeerId: this.peerId,
      running: this.running,
      applied: this.applied,
      links: this.data.links,
      tun: this.data.tun,
      ...(this.device.dnsStats != null ? { dns: this.device.dnsStats } : {}),
      dropNoRoute: this.data.dropNoRoute,
      dropNotMember: this.data.dropNotMember,
      ackThinned: this.data.ackThinned,
      policy: { ...this.counts, refusedRepeats: this.refresher.stats.refusedRepeats },
      pusher: this.pusher,
      applyError: this.applyFailed ? this.applyError : undefined,
      jobs: this.jobs.attachments(),
      portMappings: this.jobs.mappings()
    })
  }

  injectRecords (peerId: string, records: Uint8Array): boolean {
    return this.data.inject(peerId, records)
  }

  async waitForLink (peerId: string, options?: AbortOptions): Promise<void> {
    while (this.data.links.get(peerId)?.stream == null) {
      options?.signal?.throwIfAborted()
      await sleep(50, options?.signal)
    }
  }

  // ---------------------------------------------------------------- control

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn)
  }

  private requireAuthority (): VpnMembership {
    const cur = this.current
    if (cur == null || !this.running) throw new VpnNotRunningError('the VPN is not running')
    if (cur.authority !== this.peerId || this.plan == null) throw new NotAuthorityError(`only the authority ${cur.authority} may change membership`)
    return cur
  }

  /** Authority: check (our own routes are ours to set), persist, apply locally, push to every member. */
  private async commit (next: VpnMembership, options?: AbortOptions): Promise<void> {
    const { effective } = this.policy.check(next, true)
    await this.store.save({ membership: next, plan: this.plan?.toJSON() })
    await this.apply(next, effective, options)
    // members that do not take it are pushed it again in the background (push.ts)
    await this.pusher.push(next, options)
  }

  private async tell (peerId: string, req: ControlRequest, options?: AbortOptions): Promise<ControlReply | undefined> {
    return await tell(this.network, peerId, req, this.log, options)
  }

  private async onControlStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    const signal = AbortSignal.timeout(10_000)
    try {
      await serve(stream, async (req) => await answer(from, req, {
        selfPeerId: this.peerId,
        current: this.current,
        bye: (peer) => { this.data.links.get(peer)?.stream?.abort(new Error('peer stopped')) },
        accept: async (peer, m) => { await this.serial(async () => { await this.accept(peer, m) }) }
      }), { signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /** A membership sent by `from`: judged (member.ts, policy.ts) before anything of it is applied. */
  private async accept (from: string, m: VpnMembership): Promise<void> {
    let decision
    try {
      decision = judgeMembership({ self: this.peerId, current: this.current, from, trusted: this.opts.acceptInvite ?? (() => false), policy: this.policy }, m)
    } catch (err) {
      const invitation = (err as Error).name === 'InvitationRefusedError'
      if (invitation) this.counts.invitationsRefused++
      else this.counts.refused++
      this.log?.warn({ from, networkId: m.networkId, version: m.version, err }, invitation ? 'vpn invitation refused' : 'vpn membership refused')
      this.safeDispatchEvent('membership:refused', { detail: { from, networkId: m.networkId, reason: (err as Error).message, error: (err as Error).name } })
      throw err
    }
    if (decision.action === 'ignore') {
      // the version we hold, but its device never opened here (apply threw: a TUN or `ip` failure):
      // the authority's push again, or our refresh, is the next try
      if (this.notApplied(m)) await this.apply(m, this.policy.check(m).effective)
      return
    }
    if (decision.action === 'leave') {
      this.log?.info({ networkId: m.networkId }, 'removed from the VPN')
      await this.teardown('removed')
      this.current = undefined
      this.applied = undefined
      await this.store.forget()
      return
    }
    const { verdict, switchFrom } = decision
    if (verdict.stripped.length > 0) {
      this.counts.routesStripped += verdict.stripped.length
      this.log?.warn({ routes: verdict.stripped }, 'routes of members not in vpn.acceptRoutesFrom are not installed')
    }
    if (switchFrom != null) {
      this.counts.switches++
      this.log?.warn({ from, previous: switchFrom, networkId: m.networkId }, 'switching to another VPN (vpn.allowNetworkSwitch)')
      await this.teardown('replaced by another VPN')
      this.safeDispatchEvent('network:switched', { detail: { from, previous: switchFrom, networkId: m.networkId } })
    }
    await this.store.save({ membership: m })
    await this.apply(m, verdict.effective)
  }

  /** `m` is the membership we hold, names us, and its apply failed. */
  private notApplied (m: VpnMembership): boolean {
    const cur = this.current
    return this.applyFailed && cur != null && cur.networkId === m.networkId && cur.version === m.version && cur.authority === m.authority && m.members.some(x => x.peerId === this.peerId)
  }

  /** Makes the device, route table and links match `effective` (`m` as the policy lets it apply here). */
  private async apply (m: VpnMembership, effective: VpnMembership, options?: AbortOptions): Promise<void> {
    const self = effective.members.find(x => x.peerId === this.peerId)
    if (self == null) throw new InvalidArgumentError('this node is not a member')
    const prev = this.applied
    const routes = effective.members.filter(x => x.peerId !== this.peerId).flatMap(x => x.routes)
    const prevSelf = prev?.members.find(x => x.peerId === this.peerId)
    const needNewTun = this.data.tun == null || prevSelf?.ipv4 !== self.ipv4 || prevSelf?.ipv6 !== self.ipv6 || prev?.mtu !== effective.mtu || prev.cidr !== effective.cidr || prev.ipv6Prefix !== effective.ipv6Prefix

    // Route table first: from here on, removed members' packets are refused.
    this.current = m
    this.applied = effective
    const links = this.data.applyMembership(effective)

    // refreshing before the device opens: if it does not, a periodic fetch tries the apply again
    this.refresher.start(m.authority)
    try {
      if (needNewTun) {
        this.dialler.reset()
        await this.device.open(effective, self, routes, options)
        this.dialler.reset()
      } else {
        await this.device.setRoutes(routes)
      }
    } catch (err) {
      this.applyFailed = true
      this.applyError = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      this.log?.warn({ err, networkId: m.networkId, version: m.version }, 'could not apply the VPN membership (tried again at the next push or refresh)')
      throw err
    }
    this.applyFailed = false
    this.applyError = undefined
    this.running = true

    for (const link of links) {
      const x = effective.members.find(y => y.peerId === link.peerId)
      const hints = x == null ? [] : dialHints(x.peerId, x.addrs)
      if (hints.length > 0) {
        try {
          await this.network.addPeerAddresses(link.peerId, hints)
        } catch { /* best effort: a hint only */ }
      }
      this.dialler.ensure(link)
    }
    this.safeDispatchEvent('membership:changed', { detail: { version: m.version, members: m.members.length } })
  }

  private async closeDevice (): Promise<void> {
    this.dialler.reset()
    await this.device.close()
  }

  private async teardown (reason: string): Promise<void> {
    this.running = false
    this.applyFailed = false
    this.refresher.stop()
    void this.pusher.stop()
    await this.jobs.close().catch((err: unknown) => { this.log?.warn({ err }, 'job network cleanup failed') })
    this.data.closeLinks()
    await this.closeDevice()
    this.safeDispatchEvent('vpn:stopped', { detail: { reason } })
  }
}

/**
 * Creates the VPN and registers its protocol handlers (they survive host switches through
 * `Network.handle`). Invitations are refused unless `acceptInvite` says whom to trust.
 */
export async function createVpn (options: CreateVpnOptions): Promise<Vpn> {
  const vpn = new DmsnetVpn(options)
  await vpn.init()
  return vpn
}

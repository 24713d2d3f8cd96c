/**
 * `createVpn`: IP over libp2p between the members of one private network.
 *
 * Packet walk (the data path, never waiting for control):
 *   TUN read batch -> `routes.lookup` per record (destination -> member) -> runs of records for the
 *   same member -> that member's `PeerLink` (one long-lived stream, one ordered writer, bounded
 *   queue) -> peer -> `RecordReassembler` -> `routes.checkInbound` (anti-spoofing) -> TUN write.
 *
 * Control (start, add/remove peers, restarts) builds a new membership snapshot and a new route
 * table and swaps them in. The node that starts the VPN is its authority: it assigns addresses
 * (`address-plan.ts`), persists them, and pushes each new snapshot to every member over the
 * control protocol; members persist the last snapshot they accepted so a restart resumes it.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Gauge, type Registry } from 'prom-client'
import { InvalidArgumentError } from '../errors.js'
import { RECORD_HEADER, readRecordLength, VNET_HDR_LEN } from '../netdev/records.js'
import { createAddressPlan, DEFAULT_CIDR, DEFAULT_IPV6_PREFIX, type AddressPlan, type AddressPlanJSON } from './address-plan.js'
import { CONTROL_PROTOCOL, exchange, serve, type ControlReply, type ControlRequest } from './control.js'
import { createDnsResponder, type DnsResponder } from './dns.js'
import { toForwardOptions, type DnsForwardConfig } from './dns-forward.js'
import { createJobNetwork, type JobAttachment, type JobNetwork, type PortMappingInfo } from './jobs.js'
import { NotAuthorityError, VpnNotRunningError, VpnStateFileError } from './errors.js'
import { formatIPv4, formatIPv6, parseCidr } from './ip.js'
import { emptyStats, PeerLink } from './link.js'
import { isAllowedRoute, isValidLabel, parseMembership, type VpnMember, type VpnMembership } from './membership.js'
import { createRouteTable, VERDICT_MALFORMED, VERDICT_NOT_FOR_US, VERDICT_OK, VERDICT_SPOOFED, type RouteTable } from './routes.js'
import type { Logger } from '../logging.js'
import type { Network } from '../network/types.js'
import type { TunFactory, VpnPeerSpec, VpnPeerStatus, VpnStatus, VpnTun } from './types.js'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'

export const DATA_PROTOCOL_PREFIX = '/dmsnet/vpn/1.0.0'
/** How long the member with the larger peer id waits for the designated dialer before dialling itself. */
const FALLBACK_DIAL_MS = 3000
/** Longest pause of TUN reads while a peer's queue drains. */
const PAUSE_MAX_MS = 20

export interface VpnConfig {
  cidr?: string
  ipv6Prefix?: string
  domain?: string
  mtu?: number
  interfaceName?: string
  /** UDP port of the DNS responder on the VPN address; 0 disables it. */
  dnsPort?: number
  /** Forwarding of names outside the domain (`vpn.dnsForward`); default on, resolv.conf. */
  dnsForward?: DnsForwardConfig
}

export interface CreateVpnOptions {
  network: Network
  /** `config.vpn` plus where to persist state (`<dataDir>/vpn/`). */
  config: VpnConfig & { dataDir: string }
  tun: TunFactory
  logger?: Logger
  metrics?: Registry
  /** DNS label of this node; default derived from the peer id. */
  name?: string
  /** TUN offloads (virtio_net_hdr, ~64 KiB TCP segments). Every member of a VPN must agree; default true. */
  offload?: boolean
  /** Per-peer outbound queue bound (bytes) before drop-tail; default 4 MiB. */
  maxQueueBytes?: number
  /** Whether to accept an invitation (a membership pushed by a new authority); default: accept. */
  acceptInvite?: (authority: string) => boolean
  /** Delay cap between redials of a lost tunnel stream; default 2000 ms. */
  maxRedialDelayMs?: number
  /** Bridge subnet for attached job namespaces; default 10.250.0.0/24. */
  jobSubnet?: string
}

export interface VpnEvents {
  'membership:changed': CustomEvent<{ version: number, members: number }>
  'vpn:stopped': CustomEvent<{ reason: string }>
}

export interface Vpn extends EventTarget {
  readonly peerId: string
  /**
   * Starts the VPN. With `peers`, this node becomes (or stays) the authority of a VPN of itself and
   * those peers. Without, it resumes the persisted membership, or waits for an invitation.
   */
  start (peers?: VpnPeerSpec[], options?: AbortOptions): Promise<VpnStatus>
  addPeer (peer: VpnPeerSpec, options?: AbortOptions): Promise<VpnMember>
  removePeer (peerId: string, options?: AbortOptions): Promise<void>
  /** Tears the local device down and tells the peers. `forget` also deletes the persisted membership (and, on the authority, dissolves the VPN). */
  stop (options?: AbortOptions & { forget?: boolean }): Promise<void>
  status (): VpnStatus
  /** The current membership snapshot (undefined when idle). */
  membership (): VpnMembership | undefined
  /** Sends raw records to a member's tunnel, bypassing the TUN (tests: forged packets). */
  injectRecords (peerId: string, records: Uint8Array): boolean
  /** Resolves once a tunnel stream to `peerId` is attached. */
  waitForLink (peerId: string, options?: AbortOptions): Promise<void>
  /** Joins a job's network namespace to the VPN (veth + bridge + masquerade). */
  attachNamespace (netns: string, options?: AbortOptions): Promise<JobAttachment>
  detachNamespace (netns: string, options?: AbortOptions): Promise<void>
  /** Exposes `to` (e.g. a job's address and port) on this node's VPN address (DNAT). */
  mapPort (mapping: { protocol: 'tcp' | 'udp', port: number, to: { address: string, port?: number } }, options?: AbortOptions): Promise<PortMappingInfo>
  unmapPort (id: string, options?: AbortOptions): Promise<void>
}

interface PersistedState {
  membership?: VpnMembership
  plan?: AddressPlanJSON
}

function defaultName (peerId: string): string {
  return `p-${peerId.slice(-8).toLowerCase()}`
}

function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
  })
}

class DmsnetVpn extends EventTarget implements Vpn {
  readonly peerId: string
  private readonly network: Network
  private readonly opts: CreateVpnOptions
  private readonly log?: Logger
  private readonly stateFile: string
  private readonly offload: boolean
  private readonly hdr: number
  private readonly dataProtocol: string

  private current: VpnMembership | undefined
  private plan: AddressPlan | undefined
  private table: RouteTable
  private readonly links = new Map<string, PeerLink>()
  private tun: VpnTun | undefined
  private tunRoutes: string[] = []
  private dns: DnsResponder | undefined
  private running = false
  private handlersUp = false
  private lifecycle = new AbortController()
  private readonly dialing = new Set<string>()
  private serialTail: Promise<unknown> = Promise.resolve()
  private dropNoRoute = 0
  private dropNotMember = 0
  private tunPaused = false
  private pauseTimer: ReturnType<typeof setTimeout> | undefined
  private readonly jobs: JobNetwork

  constructor (opts: CreateVpnOptions) {
    super()
    this.opts = opts
    this.network = opts.network
    this.peerId = opts.network.peerId.toString()
    this.log = opts.logger
    this.stateFile = join(opts.config.dataDir, 'vpn', 'state.json')
    this.offload = opts.offload ?? true
    this.hdr = this.offload ? VNET_HDR_LEN : 0
    this.dataProtocol = `${DATA_PROTOCOL_PREFIX}/${this.offload ? 'vnet' : 'raw'}`
    this.table = createRouteTable(undefined, this.peerId)
    if (opts.metrics != null) this.registerMetrics(opts.metrics)
    this.jobs = createJobNetwork({
      subnet: opts.jobSubnet,
      tunName: () => this.tun?.name,
      vpnAddress: () => this.current?.members.find(m => m.peerId === this.peerId)?.ipv4,
      vpnCidr: () => this.current?.cidr
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
    await this.network.handle(this.dataProtocol, (stream, conn) => { this.onDataStream(stream, conn) }, { runOnLimitedConnection: true, maxInboundStreams: 4, maxOutboundStreams: 4 })
    await this.network.handle(CONTROL_PROTOCOL, (stream, conn) => { void this.onControlStream(stream, conn) }, { runOnLimitedConnection: true, maxInboundStreams: 16 })
    this.handlersUp = true
  }

  async start (peers?: VpnPeerSpec[], options?: AbortOptions): Promise<VpnStatus> {
    return await this.serial(async () => {
      await this.init()
      const saved = await this.load()
      if (peers == null) {
        if (saved.membership != null && saved.membership.members.some(m => m.peerId === this.peerId)) {
          if (saved.membership.authority === this.peerId && saved.plan != null) this.plan = createAddressPlan({ saved: saved.plan })
          await this.apply(saved.membership, options)
          if (saved.membership.authority !== this.peerId) void this.pullFromAuthority()
          else void this.pushAll(saved.membership)
        }
        return this.status()
      }
      // Becoming (or staying) the authority.
      const cfg = this.opts.config
      const cidr = cfg.cidr ?? DEFAULT_CIDR
      const ipv6Prefix = cfg.ipv6Prefix ?? DEFAULT_IPV6_PREFIX
      const reuse = saved.membership?.authority === this.peerId && saved.plan != null && saved.plan.cidr === cidr ? saved : undefined
      this.plan = createAddressPlan({ cidr, ipv6Prefix, saved: reuse?.plan })
      const base: VpnMembership = reuse?.membership ?? {
        networkId: randomUUID(),
        authority: this.peerId,
        version: 0,
        cidr,
        ipv6Prefix,
        domain: cfg.domain ?? 'dmsnet',
        mtu: cfg.mtu ?? 1420,
        members: []
      }
      const specs: VpnPeerSpec[] = [{ peerId: this.peerId, name: this.opts.name }, ...peers.filter(p => p.peerId !== this.peerId)]
      const members: VpnMember[] = []
      for (const spec of specs) members.push(this.memberFor(spec, [...base.members, ...members]))
      const next: VpnMembership = { ...base, version: base.version + 1, members }
      for (const old of base.members) if (!members.some(m => m.peerId === old.peerId)) this.plan.release(old.peerId)
      await this.commit(next, options)
      for (const old of base.members) if (!members.some(m => m.peerId === old.peerId)) void this.tell(old.peerId, { type: 'membership', membership: { ...next, members: [] } })
      return this.status()
    })
  }

  async addPeer (peer: VpnPeerSpec, options?: AbortOptions): Promise<VpnMember> {
    return await this.serial(async () => {
      const cur = this.requireAuthority()
      const existing = cur.members.find(m => m.peerId === peer.peerId)
      const others = cur.members.filter(m => m.peerId !== peer.peerId)
      const member = this.memberFor(peer, others, existing)
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
        this.plan = undefined
        await rm(this.stateFile, { force: true })
      }
      if (this.handlersUp) {
        await this.network.unhandle(this.dataProtocol).catch(() => {})
        await this.network.unhandle(CONTROL_PROTOCOL).catch(() => {})
        this.handlersUp = false
      }
    })
  }

  membership (): VpnMembership | undefined {
    return this.current
  }

  status (): VpnStatus {
    const cur = this.current
    const self = cur?.members.find(m => m.peerId === this.peerId)
    const peers: VpnPeerStatus[] = (cur?.members ?? []).map(m => {
      const link = this.links.get(m.peerId)
      return {
        peerId: m.peerId,
        name: m.name,
        ipv4: m.ipv4,
        ipv6: m.ipv6,
        routes: m.routes,
        self: m.peerId === this.peerId,
        path: link?.stream == null ? 'none' : link.relayed ? 'relayed' : 'direct',
        queuedBytes: link?.queuedBytes ?? 0,
        ...(link?.stats ?? emptyStats())
      }
    })
    return {
      state: this.running ? 'running' : cur != null ? 'stopped' : 'idle',
      networkId: cur?.networkId,
      authority: cur?.authority,
      isAuthority: cur?.authority === this.peerId,
      version: cur?.version ?? -1,
      interface: this.tun?.name,
      cidr: cur?.cidr,
      ipv6Prefix: cur?.ipv6Prefix,
      domain: cur?.domain,
      mtu: cur?.mtu,
      ipv4: self?.ipv4,
      ipv6: self?.ipv6,
      peers,
      dropNoRoute: this.dropNoRoute,
      dropNotMember: this.dropNotMember,
      tun: this.tun?.stats?.(),
      jobs: this.jobs.attachments(),
      portMappings: this.jobs.mappings()
    }
  }

  injectRecords (peerId: string, records: Uint8Array): boolean {
    const link = this.links.get(peerId)
    if (link?.stream?.writeStatus !== 'writable') return false
    try {
      link.stream.send(records)
      return true
    } catch {
      return false
    }
  }

  async waitForLink (peerId: string, options?: AbortOptions): Promise<void> {
    while (this.links.get(peerId)?.stream == null) {
      options?.signal?.throwIfAborted()
      await sleep(50, options?.signal)
    }
  }

  // ---------------------------------------------------------------- control

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.serialTail.then(fn, fn)
    this.serialTail = run.catch(() => {})
    return run
  }

  private requireAuthority (): VpnMembership {
    const cur = this.current
    if (cur == null || !this.running) throw new VpnNotRunningError('the VPN is not running')
    if (cur.authority !== this.peerId || this.plan == null) throw new NotAuthorityError(`only the authority ${cur.authority} may change membership`)
    return cur
  }

  private memberFor (spec: VpnPeerSpec, others: VpnMember[], existing?: VpnMember): VpnMember {
    try {
      peerIdFromString(spec.peerId)
    } catch (err) {
      throw new InvalidArgumentError(`not a peer id: ${spec.peerId}`, { cause: err })
    }
    let name = (spec.name ?? existing?.name ?? defaultName(spec.peerId)).toLowerCase()
    if (!isValidLabel(name)) throw new InvalidArgumentError(`not a DNS label: ${name}`)
    if (others.some(m => m.name === name)) {
      if (spec.name != null) throw new InvalidArgumentError(`name ${name} is taken`)
      let i = 2
      while (others.some(m => m.name === `${name}-${i}`)) i++
      name = `${name}-${i}`
    }
    for (const r of spec.routes ?? []) if (!isAllowedRoute(r)) throw new InvalidArgumentError(`route ${r} is not a private prefix (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7)`)
    const ip = this.plan!.allocate(spec.peerId)
    let addrs = spec.addrs ?? existing?.addrs ?? []
    if (addrs.length === 0 && spec.peerId !== this.peerId) {
      try {
        addrs = this.network.host.getConnections(peerIdFromString(spec.peerId))
          .filter(c => c.limits == null).map(c => c.remoteAddr.toString())
      } catch { /* best effort: a hint only */ }
    }
    if (spec.peerId === this.peerId) {
      try { addrs = this.network.host.getMultiaddrs().map(a => a.toString()) } catch { /* best effort: a hint only */ }
    }
    return {
      peerId: spec.peerId,
      name,
      ipv4: formatIPv4(ip),
      ipv6: formatIPv6(this.plan!.ipv6Of(ip)),
      routes: spec.routes ?? existing?.routes ?? [],
      addrs: addrs.slice(0, 32)
    }
  }

  /** Authority: persist, apply locally, push to every member. */
  private async commit (next: VpnMembership, options?: AbortOptions): Promise<void> {
    await this.save({ membership: next, plan: this.plan?.toJSON() })
    await this.apply(next, options)
    await this.pushAll(next, options)
  }

  private async pushAll (m: VpnMembership, options?: AbortOptions): Promise<void> {
    await Promise.all(m.members.filter(x => x.peerId !== this.peerId).map(async x => {
      await this.tell(x.peerId, { type: 'membership', membership: m }, options)
    }))
  }

  /** Sends one control request; failures are logged (members also pull on restart). */
  private async tell (peerId: string, req: ControlRequest, options?: AbortOptions): Promise<ControlReply | undefined> {
    const signal = AbortSignal.any([AbortSignal.timeout(5000), ...(options?.signal != null ? [options.signal] : [])])
    try {
      const conn = await this.network.dial(peerId, { signal })
      const stream = await conn.newStream(CONTROL_PROTOCOL, { signal, runOnLimitedConnection: true } as AbortOptions)
      const reply = await exchange(stream, req, { signal })
      if (!reply.ok) this.log?.warn({ peer: peerId, error: reply.error }, 'vpn control request refused')
      return reply
    } catch (err) {
      this.log?.debug({ peer: peerId, err }, `vpn control ${req.type} failed`)
      return undefined
    }
  }

  private async pullFromAuthority (): Promise<void> {
    const cur = this.current
    if (cur == null) return
    const reply = await this.tell(cur.authority, { type: 'fetch', networkId: cur.networkId })
    if (reply?.ok === true && reply.membership != null) {
      try {
        await this.serial(async () => { await this.accept(cur.authority, reply.membership!) })
      } catch (err) {
        this.log?.warn({ err }, 'could not apply the authority\'s membership')
      }
    }
  }

  private async onControlStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    const signal = AbortSignal.timeout(10_000)
    try {
      await serve(stream, async (req) => await this.handleControl(from, req), { signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  private async handleControl (from: string, req: ControlRequest): Promise<ControlReply> {
    const cur = this.current
    switch (req.type) {
      case 'fetch':
        if (cur == null || cur.networkId !== req.networkId || cur.authority !== this.peerId) return { ok: false, error: 'not the authority of that VPN' }
        if (!cur.members.some(m => m.peerId === from)) return { ok: true, membership: { ...cur, members: [] } }
        return { ok: true, membership: cur }
      case 'bye':
        if (cur?.networkId === req.networkId) this.links.get(from)?.stream?.abort(new Error('peer stopped'))
        return { ok: true }
      case 'membership':
        return await this.serial(async () => {
          await this.accept(from, req.membership)
          return { ok: true }
        })
    }
  }

  /** A membership pushed by `from`: apply it if `from` is its authority and it is news. */
  private async accept (from: string, m: VpnMembership): Promise<void> {
    const cur = this.current
    if (m.authority !== from) throw new NotAuthorityError('membership not sent by its authority')
    if (cur != null && cur.networkId === m.networkId) {
      if (cur.authority !== from) throw new NotAuthorityError('not the authority of this VPN')
      if (m.version <= cur.version) return
    } else {
      if (m.authority === this.peerId) throw new NotAuthorityError('refusing a membership naming us as authority')
      if (!m.members.some(x => x.peerId === this.peerId)) return
      if (this.opts.acceptInvite != null && !this.opts.acceptInvite(from)) throw new NotAuthorityError('invitation refused')
      if (cur != null) await this.teardown('replaced by another VPN')
    }
    if (!m.members.some(x => x.peerId === this.peerId)) {
      // Removed (or the VPN was dissolved): leave and forget.
      this.log?.info({ networkId: m.networkId }, 'removed from the VPN')
      await this.teardown('removed')
      this.current = undefined
      await rm(this.stateFile, { force: true })
      return
    }
    await this.save({ membership: m })
    await this.apply(m)
  }

  /** Makes the device, route table and links match `m`. */
  private async apply (m: VpnMembership, options?: AbortOptions): Promise<void> {
    const self = m.members.find(x => x.peerId === this.peerId)
    if (self == null) throw new InvalidArgumentError('this node is not a member')
    const prev = this.current
    const v4 = parseCidr(m.cidr)
    const v6 = parseCidr(m.ipv6Prefix)
    const routes = m.members.filter(x => x.peerId !== this.peerId).flatMap(x => x.routes)
    const prevSelf = prev?.members.find(x => x.peerId === this.peerId)
    const needNewTun = this.tun == null || prevSelf?.ipv4 !== self.ipv4 || prev?.mtu !== m.mtu || prev.cidr !== m.cidr

    // Route table first: from here on, removed members' packets are refused.
    this.current = m
    this.table = createRouteTable(m, this.peerId)

    for (const [peer, link] of this.links) {
      if (!m.members.some(x => x.peerId === peer)) {
        link.close()
        this.links.delete(peer)
      }
    }

    if (needNewTun) {
      await this.closeDevice()
      const tun = await this.opts.tun({
        name: this.opts.config.interfaceName ?? 'dmsnet0',
        mtu: m.mtu,
        offload: this.offload,
        addresses: [`${self.ipv4}/${v4.prefixLen}`, `${self.ipv6}/${v6.prefixLen}`],
        routes
      }, options)
      this.tun = tun
      this.tunRoutes = routes
      this.lifecycle = new AbortController()
      tun.start((batch) => { this.onTunBatch(batch) }, (err) => { this.log?.warn({ err }, 'tun read error') })
      const port = this.opts.config.dnsPort ?? 53
      if (port > 0) {
        try {
          this.dns = await createDnsResponder({
            domain: m.domain,
            addresses: [self.ipv4, self.ipv6],
            port,
            logger: this.log,
            forward: toForwardOptions(this.opts.config.dnsForward),
            resolve: (name) => {
              const x = this.current?.members.find(y => y.name === name)
              return x == null ? undefined : { ipv4: x.ipv4, ipv6: x.ipv6 }
            }
          })
        } catch (err) {
          this.log?.warn({ err }, 'dns responder not started')
        }
      }
    } else if (routes.join(',') !== this.tunRoutes.join(',')) {
      // Extra routes changed: reopen would drop traffic; the factory's device can update in place.
      await this.tun?.setRoutes?.(routes)
      this.tunRoutes = routes
    }
    this.running = true

    for (const x of m.members) {
      if (x.peerId === this.peerId) continue
      let link = this.links.get(x.peerId)
      if (link == null) {
        link = new PeerLink({
          peerId: x.peerId,
          maxQueueBytes: this.opts.maxQueueBytes ?? 4 * 1024 * 1024,
          minPayload: this.hdr + 20,
          onRecords: (l, run) => { this.onPeerRecords(l, run) },
          onStreamClosed: (l) => { this.ensureDial(l) },
          onDrained: () => { this.resumeTun() }
        })
        this.links.set(x.peerId, link)
      }
      if (x.addrs.length > 0) {
        try {
          await this.network.host.peerStore.merge(peerIdFromString(x.peerId), { multiaddrs: x.addrs.map(a => multiaddr(a)) })
        } catch { /* best effort: a hint only */ }
      }
      this.ensureDial(link)
    }
    this.dispatchEvent(new CustomEvent('membership:changed', { detail: { version: m.version, members: m.members.length } }))
  }

  private async closeDevice (): Promise<void> {
    this.lifecycle.abort()
    clearTimeout(this.pauseTimer)
    this.tunPaused = false
    const dns = this.dns
    this.dns = undefined
    await dns?.close().catch(() => {})
    const tun = this.tun
    this.tun = undefined
    await tun?.close().catch((err: unknown) => { this.log?.warn({ err }, 'tun close failed') })
  }

  private async teardown (reason: string): Promise<void> {
    this.running = false
    await this.jobs.close().catch((err: unknown) => { this.log?.warn({ err }, 'job network cleanup failed') })
    for (const link of this.links.values()) link.close()
    this.links.clear()
    this.table = createRouteTable(undefined, this.peerId)
    await this.closeDevice()
    this.dispatchEvent(new CustomEvent('vpn:stopped', { detail: { reason } }))
  }

  private async load (): Promise<PersistedState> {
    let text: string
    try {
      text = await readFile(this.stateFile, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
      throw new VpnStateFileError(`cannot read ${this.stateFile}: ${(err as Error).message}`, { cause: err })
    }
    // a corrupt file would silently make this node leave its VPN: refuse instead, naming the file
    try {
      const raw = JSON.parse(text) as PersistedState
      return { membership: raw.membership != null ? parseMembership(raw.membership) : undefined, plan: raw.plan }
    } catch (err) {
      throw new VpnStateFileError(`${this.stateFile} is corrupt (${(err as Error).message}); fix or remove it (removing it forgets this node's VPN membership)`, { cause: err })
    }
  }

  private async save (state: PersistedState): Promise<void> {
    await mkdir(join(this.opts.config.dataDir, 'vpn'), { recursive: true, mode: 0o700 })
    const tmp = `${this.stateFile}.${process.pid}.tmp`
    await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 })
    await rename(tmp, this.stateFile)
  }

  // ---------------------------------------------------------------- streams

  /**
   * The member with the smaller peer id opens the pair's stream. The other one dials too, as a
   * fallback, when no stream has arrived after `FALLBACK_DIAL_MS` (the designated dialer may be
   * unable to reach it, e.g. behind NAT); a stream from the designated dialer always wins.
   */
  private ensureDial (link: PeerLink): void {
    if (!this.running || link.stream != null || this.dialing.has(link.peerId)) return
    this.dialing.add(link.peerId)
    const signal = this.lifecycle.signal
    const designated = this.peerId < link.peerId
    void (async () => {
      let delay = 100
      try {
        if (!designated) await sleep(FALLBACK_DIAL_MS, signal)
        while (this.running && !signal.aborted && this.links.get(link.peerId) === link && link.stream == null) {
          try {
            const s = AbortSignal.any([signal, AbortSignal.timeout(5000)])
            const conn = await this.network.dial(link.peerId, { signal: s })
            const stream = await conn.newStream(this.dataProtocol, { signal: s, runOnLimitedConnection: true } as AbortOptions)
            if (this.links.get(link.peerId) !== link) {
              stream.abort(new Error('member removed'))
              return
            }
            link.attach(stream, conn.limits != null, designated)
            // The peer may refuse the stream (it has not applied the membership yet): then the
            // link is already without a stream here and we go round again.
            if (link.stream === stream) return
          } catch (err) {
            this.log?.debug({ peer: link.peerId, err }, 'vpn tunnel dial failed')
          }
          await sleep(delay, signal)
          delay = Math.min(delay * 2, this.opts.maxRedialDelayMs ?? 2000)
        }
      } finally {
        this.dialing.delete(link.peerId)
      }
    })()
  }

  private onDataStream (stream: Stream, conn: Connection): void {
    const from = conn.remotePeer.toString()
    const link = this.links.get(from)
    if (link == null || !this.table.byPeer.has(from)) {
      this.dropNotMember++
      stream.abort(new Error('not a member of this VPN'))
      return
    }
    // Inbound from the smaller id = from the designated dialer.
    link.attach(stream, conn.limits != null, from < this.peerId)
  }

  // ---------------------------------------------------------------- data path

  /** TUN -> peers: split the batch into runs of consecutive records bound for the same member. */
  private onTunBatch (batch: Uint8Array): void {
    const table = this.table
    const hdr = this.hdr
    const n = batch.byteLength
    let off = 0
    let runStart = 0
    let runPackets = 0
    let runLink: PeerLink | undefined
    let runPeer: string | undefined
    while (n - off >= RECORD_HEADER) {
      const len = readRecordLength(batch, off)
      if (len <= hdr || off + RECORD_HEADER + len > n) break
      const entry = table.lookup(batch, off + RECORD_HEADER + hdr, len - hdr)
      const peer = entry?.peerId
      if (peer !== runPeer || off === 0) {
        if (runPackets > 0) {
          if (runLink != null) runLink.send(batch.subarray(runStart, off), runPackets)
          else this.dropNoRoute += runPackets
        }
        runStart = off
        runPackets = 0
        runPeer = peer
        runLink = peer != null ? this.links.get(peer) : undefined
      }
      runPackets++
      off += RECORD_HEADER + len
    }
    if (runPackets > 0) {
      if (runLink != null) runLink.send(batch.subarray(runStart, off), runPackets)
      else this.dropNoRoute += runPackets
    }
    // Only a link with a stream is worth waiting for; one without drops (drop-tail) instead.
    if (runLink?.congested === true && runLink.stream != null) this.pauseTun()
  }

  /**
   * Backpressure towards the kernel: while the peer we just sent to is congested, stop reading the
   * TUN until it drains, at most PAUSE_MAX_MS (so one slow peer cannot hold the others up for long).
   */
  private pauseTun (): void {
    const tun = this.tun
    if (this.tunPaused || tun?.pause == null) return
    this.tunPaused = true
    tun.pause()
    this.pauseTimer = setTimeout(() => { this.resumeTun() }, PAUSE_MAX_MS)
  }

  private resumeTun (): void {
    if (!this.tunPaused) return
    this.tunPaused = false
    clearTimeout(this.pauseTimer)
    this.tun?.resume?.()
  }

  /** Peer -> TUN: check every record (source belongs to the sender, destination is ours). */
  private onPeerRecords (link: PeerLink, run: Uint8Array): void {
    const table = this.table
    const from = table.byPeer.get(link.peerId)
    const tun = this.tun
    const hdr = this.hdr
    let count = 0
    let off = 0
    if (from == null || tun == null) {
      while (off + RECORD_HEADER <= run.byteLength) { count++; off += RECORD_HEADER + readRecordLength(run, off) }
      this.dropNotMember += count
      return
    }
    let good: Uint8Array | undefined
    let goodLen = 0
    const stats = link.stats
    while (off + RECORD_HEADER <= run.byteLength) {
      const len = readRecordLength(run, off)
      const end = off + RECORD_HEADER + len
      const verdict = table.checkInbound(from, run, off + RECORD_HEADER + hdr, len - hdr)
      if (verdict === VERDICT_OK) {
        stats.rxPackets++
        stats.rxBytes += len
        if (good != null) {
          good.set(run.subarray(off, end), goodLen)
          goodLen += end - off
        }
      } else {
        if (verdict === VERDICT_SPOOFED) stats.dropSpoofed++
        else if (verdict === VERDICT_NOT_FOR_US) stats.dropNotForUs++
        else if (verdict === VERDICT_MALFORMED) stats.dropMalformed++
        if (good == null) {
          // First bad record: from here on copy the good ones into a compacted batch.
          good = new Uint8Array(run.byteLength)
          good.set(run.subarray(0, off), 0)
          goodLen = off
        }
      }
      off = end
    }
    const out = good == null ? run : good.subarray(0, goodLen)
    if (out.byteLength === 0) return
    try {
      tun.write(out)
    } catch (err) {
      this.log?.debug({ err }, 'tun write failed')
    }
  }

  private registerMetrics (registry: Registry): void {
    const sum = (k: keyof PeerLink['stats']): number => {
      let s = 0
      for (const l of this.links.values()) s += l.stats[k]
      return s
    }
    const reuse = (name: string): boolean => registry.getSingleMetric(name) != null
    if (!reuse('dmsnet_vpn_packets')) {
      // eslint-disable-next-line @typescript-eslint/no-this-alias
      const self = this
      new Gauge({
        name: 'dmsnet_vpn_packets', help: 'VPN packets moved, by direction', labelNames: ['direction'], registers: [registry],
        collect () { this.set({ direction: 'tx' }, sum('txPackets')); this.set({ direction: 'rx' }, sum('rxPackets')) }
      })
      new Gauge({
        name: 'dmsnet_vpn_bytes', help: 'VPN bytes moved, by direction', labelNames: ['direction'], registers: [registry],
        collect () { this.set({ direction: 'tx' }, sum('txBytes')); this.set({ direction: 'rx' }, sum('rxBytes')) }
      })
      new Gauge({
        name: 'dmsnet_vpn_drops', help: 'VPN packets dropped, by reason', labelNames: ['reason'], registers: [registry],
        collect () {
          this.set({ reason: 'queue_full' }, sum('dropQueueFull'))
          this.set({ reason: 'spoofed' }, sum('dropSpoofed'))
          this.set({ reason: 'not_for_us' }, sum('dropNotForUs'))
          this.set({ reason: 'malformed' }, sum('dropMalformed'))
          this.set({ reason: 'no_route' }, self.dropNoRoute)
          this.set({ reason: 'not_member' }, self.dropNotMember)
        }
      })
    }
  }
}

/** Creates the VPN and registers its protocol handlers (they survive host switches through `Network.handle`). */
export async function createVpn (options: CreateVpnOptions): Promise<Vpn> {
  const vpn = new DmsnetVpn(options)
  await vpn.init()
  return vpn
}

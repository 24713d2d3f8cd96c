/**
 * Forwarding for the VPN's DNS responder: names outside the VPN domain go to the host's resolvers
 * (`/etc/resolv.conf`, or configured upstreams), so a job that uses the VPN's resolver can still
 * resolve everything else.
 *
 * Bounded on every side: at most `maxInFlight` queries wait upstream (more are answered SERVFAIL
 * at once), each gets `timeoutMs` in total across the upstreams (then SERVFAIL), and answers are
 * cached by (name, type, class) for their TTL (capped by `maxTtlSec`) in an LRU of `cacheSize`
 * entries. Replies are matched by a fresh random id, the upstream's address and port and the
 * question, so an off-path sender cannot slip an answer in. Counters for all of it in `stats`.
 */
import { randomInt } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import dnsPacket from 'dns-packet'
import { configDefaults } from '../config/schema.js'
import type { Logger } from '../logging.js'

export interface DnsUpstream { address: string, port: number }

export interface DnsForwarderOptions {
  /** Resolvers to ask, in order; default: the `nameserver` lines of `resolvConf`. */
  upstreams?: DnsUpstream[]
  /** Default `/etc/resolv.conf`. */
  resolvConf?: string
  /** Never used as upstreams (the responder's own address and port: forwarding to itself would loop). */
  exclude?: DnsUpstream[]
  /** Total time per query across all upstreams before SERVFAIL. Default 2000 ms. */
  timeoutMs?: number
  /** Queries waiting upstream at once; more are answered SERVFAIL. Default 256. */
  maxInFlight?: number
  /** Cached answers (LRU); 0 turns the cache off. Default 1024. */
  cacheSize?: number
  /** Longest time an answer is cached, whatever its TTL. Default 300 s. */
  maxTtlSec?: number
  logger?: Logger
  /** Clock in ms (tests). */
  now?: () => number
}

export interface DnsForwarderStats {
  /** Queries sent upstream (cache misses). */
  forwarded: number
  cacheHits: number
  /** Queries that got no usable upstream answer in time (answered SERVFAIL). */
  timeouts: number
  /** Queries answered SERVFAIL because `maxInFlight` were already waiting. */
  busy: number
  /** SERVFAIL answers sent for any reason (timeouts, busy, no upstream). */
  servfail: number
  /** Upstream datagrams dropped: malformed, unknown id, wrong sender or question. */
  badReplies: number
  /** Answers currently cached. */
  cacheEntries: number
}

export interface DnsForwarder {
  readonly stats: DnsForwarderStats
  readonly upstreams: readonly DnsUpstream[]
  /** True when `query` asks one question for a name outside `domain` (so it is ours to forward). */
  wants (query: Buffer, domain: string): boolean
  /** The reply to send back for `query`: upstream's or cached answer, or SERVFAIL. Never rejects. */
  forward (query: Buffer): Promise<Buffer>
  close (): Promise<void>
}

const FLAG_RD = 1 << 8
const FLAG_RA = 1 << 7
const FLAG_TC = 1 << 9
const RCODE_SERVFAIL = 2

/** Reads `nameserver` lines (IPv4/IPv6, no zone ids), at most three as glibc does. */
export function readResolvConf (path = '/etc/resolv.conf'): DnsUpstream[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return []
  }
  return parseResolvConf(text)
}

export function parseResolvConf (text: string): DnsUpstream[] {
  const out: DnsUpstream[] = []
  for (const raw of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(raw.replace(/[#;].*$/, ''))
    // link-local with a zone id (fe80::1%eth0) cannot be used from a socket bound elsewhere
    if (m == null || m[1]!.includes('%') || isIP(m[1]!) === 0) continue
    out.push({ address: m[1]!, port: 53 })
  }
  return out.slice(0, 3)
}

/** `1.2.3.4`, `1.2.3.4:5353`, `fd00::1`, `[fd00::1]:5353` -> upstream; undefined when malformed. */
export function parseUpstream (s: string): DnsUpstream | undefined {
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s)
  const v4 = /^([\d.]+)(?::(\d{1,5}))?$/.exec(s)
  const [address, port] = bracket != null ? [bracket[1]!, bracket[2]] : v4 != null ? [v4[1]!, v4[2]] : [s, undefined]
  const p = port == null ? 53 : Number(port)
  if (isIP(address) === 0 || p < 1 || p > 65535) return undefined
  return { address, port: p }
}

/** `vpn.dnsForward` as the config has it. */
export interface DnsForwardConfig {
  enabled: boolean
  upstreams: string[]
  timeoutMs: number
  maxInFlight: number
  cacheSize: number
  maxTtlSec: number
}

/** The responder's `forward` option from `vpn.dnsForward` (undefined: defaults). */
export function toForwardOptions (c: DnsForwardConfig | undefined): (DnsForwarderOptions & { enabled: boolean }) | undefined {
  if (c == null) return undefined
  const upstreams = c.upstreams.map(parseUpstream).filter((u): u is DnsUpstream => u != null)
  return { enabled: c.enabled, timeoutMs: c.timeoutMs, maxInFlight: c.maxInFlight, cacheSize: c.cacheSize, maxTtlSec: c.maxTtlSec, ...(upstreams.length > 0 ? { upstreams } : {}) }
}

interface Question { name: string, type: string, class: string }

function questionOf (buf: Buffer): { id: number, flags: number, q: Question, edns: boolean } | undefined {
  try {
    const p = dnsPacket.decode(buf)
    if (p.questions?.length !== 1) return undefined
    const q = p.questions[0]!
    return { id: p.id ?? 0, flags: p.flags ?? 0, q: { name: q.name.toLowerCase().replace(/\.$/, ''), type: q.type, class: q.class ?? 'IN' }, edns: p.additionals?.some(a => a.type === 'OPT') === true }
  } catch {
    return undefined
  }
}

function servfail (query: Buffer): Buffer {
  try {
    const p = dnsPacket.decode(query)
    return dnsPacket.encode({ type: 'response', id: p.id ?? 0, flags: ((p.flags ?? 0) & FLAG_RD) | FLAG_RA | RCODE_SERVFAIL, questions: p.questions ?? [] })
  } catch {
    // undecodable: a bare header with the id, if there is one
    const h = Buffer.alloc(12)
    if (query.byteLength >= 2) query.copy(h, 0, 0, 2)
    h.writeUInt16BE(0x8000 | FLAG_RA | RCODE_SERVFAIL, 2)
    return h
  }
}

/** Seconds an answer may be cached: min TTL of its records (SOA for a negative answer), or 0. */
function cacheTtl (reply: dnsPacket.DecodedPacket, maxTtlSec: number): number {
  if (((reply.flags ?? 0) & FLAG_TC) !== 0) return 0
  const rcode = (reply.flags ?? 0) & 0xf
  if (rcode !== 0 && rcode !== 3) return 0 // only NOERROR and NXDOMAIN
  const answers = reply.answers ?? []
  const ttls = answers.length > 0
    ? answers.map(a => a.type === 'OPT' ? maxTtlSec : a.ttl ?? 0)
    : (reply.authorities ?? []).filter(a => a.type === 'SOA').map(a => Math.min(a.ttl ?? 0, (a as { data: { minimum: number } }).data.minimum))
  if (ttls.length === 0) return 0
  return Math.max(0, Math.min(maxTtlSec, ...ttls))
}

interface Pending {
  query: Buffer
  q: Question
  upstream: DnsUpstream
  resolve: (reply: Buffer | undefined) => void
}

export function createDnsForwarder (options: DnsForwarderOptions = {}): DnsForwarder {
  const exclude = new Set((options.exclude ?? []).map(u => `${u.address}|${u.port}`))
  const upstreams = (options.upstreams ?? readResolvConf(options.resolvConf)).filter(u => !exclude.has(`${u.address}|${u.port}`))
  const dflt = configDefaults.vpn.dnsForward
  const timeoutMs = options.timeoutMs ?? dflt.timeoutMs
  const maxInFlight = options.maxInFlight ?? dflt.maxInFlight
  const cacheSize = options.cacheSize ?? dflt.cacheSize
  const maxTtlSec = options.maxTtlSec ?? dflt.maxTtlSec
  const now = options.now ?? Date.now
  const log = options.logger
  const cache = new Map<string, { reply: Buffer, storedAt: number, expiresAt: number }>()
  const pending = new Map<number, Pending>()
  const sockets = new Map<4 | 6, Socket>()
  let closed = false
  const stats: DnsForwarderStats = { forwarded: 0, cacheHits: 0, timeouts: 0, busy: 0, servfail: 0, badReplies: 0, get cacheEntries () { return cache.size } }

  function onReply (msg: Buffer, from: { address: string, port: number }): void {
    if (msg.byteLength < 12) { stats.badReplies++; return }
    const p = pending.get(msg.readUInt16BE(0))
    const got = p != null ? questionOf(msg) : undefined
    if (p == null || got == null || from.address !== p.upstream.address || from.port !== p.upstream.port ||
        got.q.name !== p.q.name || got.q.type !== p.q.type || got.q.class !== p.q.class) {
      stats.badReplies++
      return
    }
    pending.delete(msg.readUInt16BE(0))
    p.resolve(msg)
  }

  function socketFor (family: 4 | 6): Socket {
    let s = sockets.get(family)
    if (s == null) {
      s = createSocket(family === 4 ? 'udp4' : 'udp6')
      s.on('message', (msg, rinfo) => { onReply(msg, rinfo) })
      s.on('error', (err) => { log?.warn({ err }, 'dns forwarder socket error') })
      s.unref()
      sockets.set(family, s)
    }
    return s
  }

  /** One attempt at one upstream: its reply, or undefined after `ms`. */
  async function ask (query: Buffer, q: Question, upstream: DnsUpstream, ms: number): Promise<Buffer | undefined> {
    let id = randomInt(0, 65536)
    while (pending.has(id)) id = (id + 1) & 0xffff
    const out = Buffer.from(query)
    out.writeUInt16BE(id, 0)
    return await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => { pending.delete(id); resolve(undefined) }, ms)
      pending.set(id, { query, q, upstream, resolve: (reply) => { clearTimeout(timer); resolve(reply) } })
      if (closed) { pending.get(id)!.resolve(undefined); pending.delete(id); return }
      socketFor(isIP(upstream.address) === 6 ? 6 : 4).send(out, upstream.port, upstream.address, (err) => {
        if (err != null) {
          log?.debug({ err, upstream }, 'dns forward send failed')
          clearTimeout(timer)
          pending.delete(id)
          resolve(undefined)
        }
      })
    })
  }

  function fail (query: Buffer): Buffer {
    stats.servfail++
    return servfail(query)
  }

  function fromCache (key: string, id: number): Buffer | undefined {
    const hit = cache.get(key)
    if (hit == null) return undefined
    const t = now()
    if (t >= hit.expiresAt) { cache.delete(key); return undefined }
    cache.delete(key)
    cache.set(key, hit) // most recently used last
    const p = dnsPacket.decode(hit.reply)
    const elapsed = Math.floor((t - hit.storedAt) / 1000)
    for (const section of [p.answers, p.authorities, p.additionals]) {
      for (const r of section ?? []) if (r.type !== 'OPT' && r.ttl != null) r.ttl = Math.max(0, r.ttl - elapsed)
    }
    p.id = id
    return dnsPacket.encode(p)
  }

  function store (key: string, reply: Buffer): void {
    if (cacheSize === 0) return
    let ttl: number
    try {
      ttl = cacheTtl(dnsPacket.decode(reply), maxTtlSec)
    } catch {
      return
    }
    if (ttl <= 0) return
    cache.delete(key)
    cache.set(key, { reply, storedAt: now(), expiresAt: now() + ttl * 1000 })
    while (cache.size > cacheSize) cache.delete(cache.keys().next().value!)
  }

  return {
    stats,
    upstreams,
    wants (query, domain) {
      const got = questionOf(query)
      if (got == null || ((got.flags >> 15) & 1) === 1) return false
      return got.q.name !== domain && !got.q.name.endsWith(`.${domain}`)
    },
    async forward (query) {
      const got = questionOf(query)
      if (got == null || closed) return fail(query)
      const key = `${got.q.name}|${got.q.type}|${got.q.class}|${got.edns ? 'e' : ''}`
      const cached = fromCache(key, got.id)
      if (cached != null) { stats.cacheHits++; return cached }
      if (upstreams.length === 0) return fail(query)
      if (pending.size >= maxInFlight) { stats.busy++; return fail(query) }
      stats.forwarded++
      const per = Math.max(1, Math.floor(timeoutMs / upstreams.length))
      for (const upstream of upstreams) {
        if (closed) break
        const reply = await ask(query, got.q, upstream, per)
        if (reply == null) continue
        reply.writeUInt16BE(got.id, 0)
        store(key, Buffer.from(reply))
        return reply
      }
      if (!closed) stats.timeouts++
      return fail(query)
    },
    async close () {
      closed = true
      cache.clear()
      // waiting queries end now (SERVFAIL) instead of at their timeout
      for (const [id, p] of pending) { pending.delete(id); p.resolve(undefined) }
      await Promise.all([...sockets.values()].map(async s => { await new Promise<void>(resolve => { s.close(() => { resolve() }) }) }))
      sockets.clear()
    }
  }
}

/**
 * The VPN's DNS responder: answers `<name>.<domain>` with members' addresses (A and AAAA) on a UDP
 * socket bound to this node's VPN address, so every member can use every other member as its
 * resolver. Unknown names inside the domain get NXDOMAIN; names outside it are forwarded to the
 * host's resolvers (dns-forward.ts: bounded, cached) unless `forward` is false, in which case they
 * get NXDOMAIN too. Malformed queries are dropped and counted.
 */
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import dnsPacket from 'dns-packet'
import type { Logger } from '../logging.js'
import type { VpnDnsStats } from './types.js'
import { createDnsForwarder, type DnsForwarder, type DnsForwarderOptions } from './dns-forward.js'

export interface DnsRecord {
  ipv4?: string
  ipv6?: string
}

export interface DnsResponderOptions {
  /** Lower-case domain, e.g. `dmsnet`. */
  domain: string
  /** Called per query with the lower-case label in front of the domain. */
  resolve: (name: string) => DnsRecord | undefined
  /** Addresses to bind (the node's VPN IPv4 and IPv6 addresses). */
  addresses: string[]
  port: number
  ttl?: number
  logger?: Logger
  /** Forwarding of names outside the domain; default on (resolvers from /etc/resolv.conf); false = NXDOMAIN. */
  forward?: (DnsForwarderOptions & { enabled?: boolean }) | false
}

export interface DnsStats {
  queries: number
  answered: number
  nxdomain: number
  malformed: number
}

export interface DnsResponder {
  readonly stats: DnsStats
  /** The bound ports per address (useful when `port` is 0). */
  readonly bound: Array<{ address: string, port: number }>
  /** Present when forwarding is on. */
  readonly forwarder?: DnsForwarder
  close (): Promise<void>
}

/** The responder's counters and its forwarder's, as `vpn status` and /metrics show them (a snapshot). */
export function dnsStatsOf (d: DnsResponder): VpnDnsStats {
  return { ...d.stats, ...(d.forwarder != null ? { forward: { ...d.forwarder.stats } } : {}) }
}

const RCODE_NXDOMAIN = 3
const RCODE_NOTIMP = 4
const FLAG_AA = 1 << 10
const FLAG_RD = 1 << 8

/** Builds the answer to a raw query, or undefined for garbage that deserves no reply. */
export function answerQuery (query: Buffer, options: Pick<DnsResponderOptions, 'domain' | 'resolve' | 'ttl'>, stats?: DnsStats): Buffer | undefined {
  let q: dnsPacket.DecodedPacket
  try {
    q = dnsPacket.decode(query)
  } catch {
    if (stats != null) stats.malformed++
    return undefined
  }
  if (q.type !== 'query' || q.questions == null || q.questions.length !== 1) {
    if (stats != null) stats.malformed++
    return undefined
  }
  if (stats != null) stats.queries++
  const question = q.questions[0]!
  const name = question.name.toLowerCase().replace(/\.$/, '')
  const suffix = `.${options.domain}`
  const ttl = options.ttl ?? 5
  const rd = (q.flags ?? 0) & FLAG_RD
  const reply = (rcode: number, answers: dnsPacket.Answer[]): Buffer => dnsPacket.encode({
    type: 'response',
    id: q.id ?? 0,
    flags: FLAG_AA | rd | rcode,
    questions: [question],
    answers
  })

  if (!name.endsWith(suffix)) {
    if (stats != null) stats.nxdomain++
    return reply(RCODE_NXDOMAIN, [])
  }
  const label = name.slice(0, -suffix.length)
  const rec = label.includes('.') ? undefined : options.resolve(label)
  if (rec == null) {
    if (stats != null) stats.nxdomain++
    return reply(RCODE_NXDOMAIN, [])
  }
  if (stats != null) stats.answered++
  if (question.type === 'A') return reply(0, rec.ipv4 != null ? [{ type: 'A', name: question.name, ttl, data: rec.ipv4 }] : [])
  if (question.type === 'AAAA') return reply(0, rec.ipv6 != null ? [{ type: 'AAAA', name: question.name, ttl, data: rec.ipv6 }] : [])
  // The name exists but has no record of this type: NOERROR with no answers (NODATA), except
  // for classes of query we do not implement at all.
  return reply(question.class === 'IN' ? 0 : RCODE_NOTIMP, [])
}

export async function createDnsResponder (options: DnsResponderOptions): Promise<DnsResponder> {
  const stats: DnsStats = { queries: 0, answered: 0, nxdomain: 0, malformed: 0 }
  const sockets: Socket[] = []
  const bound: Array<{ address: string, port: number }> = []
  const fwd = options.forward === false || options.forward?.enabled === false
    ? undefined
    : createDnsForwarder({ logger: options.logger, ...options.forward, exclude: [...options.addresses.map(address => ({ address, port: options.port })), ...(options.forward?.exclude ?? [])] })
  try {
    for (const address of options.addresses) {
      const sock = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', reuseAddr: false })
      const send = (out: Buffer, rinfo: { port: number, address: string }): void => {
        try {
          sock.send(out, rinfo.port, rinfo.address, (err) => {
            if (err != null) options.logger?.debug({ err }, 'dns reply failed')
          })
        } catch (err) {
          // a forwarded answer may come back after close(): the socket is gone, drop it
          options.logger?.debug({ err }, 'dns reply after close dropped')
        }
      }
      sock.on('message', (msg, rinfo) => {
        if (fwd?.wants(msg, options.domain) === true) {
          void fwd.forward(msg).then(out => { send(out, rinfo) })
          return
        }
        const out = answerQuery(msg, options, stats)
        if (out == null) return
        send(out, rinfo)
      })
      sock.on('error', (err) => { options.logger?.warn({ err }, 'dns socket error') })
      sockets.push(sock)
      sock.bind(options.port, address)
      await once(sock, 'listening')
      bound.push({ address, port: sock.address().port })
    }
  } catch (err) {
    for (const s of sockets) s.close()
    await fwd?.close()
    throw err
  }
  return {
    stats,
    bound,
    ...(fwd != null ? { forwarder: fwd } : {}),
    async close () {
      await Promise.all(sockets.map(async s => { await new Promise<void>(resolve => { s.close(() => { resolve() }) }) }))
      await fwd?.close()
    }
  }
}

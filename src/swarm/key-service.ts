/**
 * The creator's key service: a second, minimal libp2p host (same identity, TCP + Noise + yamux,
 * no PSK, no DHT or pubsub) that serves only the key-exchange protocol.
 *
 * Why a second listener: while the creator is inside its swarm, its main host speaks only the
 * PSK, so a new member (holding an invite) or a member that missed a rotation (holding a stale
 * key) could not reach it. This host stays reachable on the public network for exactly one
 * protocol, and every request on it is authenticated by the requester's peer id from Noise.
 *
 * Anyone can connect to it, so its connection slots are guarded: at most
 * `maxConnectionsPerAddress` connections per remote IPv4 address or IPv6 /64 (a handshake that
 * fails frees its slot when its socket closes), and every connection is closed after
 * `idleTimeoutMs` (a key exchange is one request and one reply), so anonymous peers cannot hold
 * the slots that members coming back after a rotation need.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { SWARM_KEY_PROTOCOL } from './wire.js'
import type { PrivateKey, StreamHandler } from '@libp2p/interface'

export interface KeyService {
  /** Bound addresses, with /p2p/<creator>. */
  readonly addrs: string[]
  /** Bound listen addresses without /p2p/ (kept to re-bind the same ports after a restart). */
  readonly listen: string[]
  stop(): Promise<void>
  stats(): KeyServiceStats
}

export interface KeyServiceLimits {
  /** Concurrent connections from one IP address (a NAT may hide several members). Default 16. */
  maxConnectionsPerAddress: number
  /** A connection is closed this long after it opened. Default 15 s. */
  idleTimeoutMs: number
}

export const DEFAULT_KEY_SERVICE_LIMITS: KeyServiceLimits = { maxConnectionsPerAddress: 16, idleTimeoutMs: 15_000 }

export interface KeyServiceInit {
  privateKey: PrivateKey
  /** TCP listen multiaddrs; a port of 0 picks a free one. */
  listen: string[]
  handler: StreamHandler
  limits?: Partial<KeyServiceLimits>
}

export interface KeyServiceStats {
  /** Inbound connections refused by the per-address limit. */
  refusedConnections: number
  /** Connections closed by the idle timeout. */
  idleClosed: number
  /** Accepted connections still in their handshake (a failed one stops counting when it closes). */
  pendingHandshakes?: number
}

/**
 * The unit the per-address cap counts: an IPv4 address, or an IPv6 /64 (one host usually holds a
 * whole /64, so counting single IPv6 addresses would not bound it); an IPv4-mapped IPv6 address
 * counts as its IPv4 address.
 */
export function addressKeyOf (addr: { toString(): string }): string {
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)/.exec(addr.toString())
  if (m == null) return addr.toString()
  const host = m[2]!
  if (m[1] !== 'ip6') return host
  const groups = expandIp6(host)
  if (groups == null) return host
  if (groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`
  }
  return `${groups.slice(0, 4).map(g => g.toString(16)).join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address (dotted IPv4 tail allowed), or undefined. */
function expandIp6 (host: string): number[] | undefined {
  let h = host.toLowerCase().replace(/%.*$/, '')
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h)
  if (v4 != null) {
    const b = v4.slice(1).map(Number)
    if (b.some(x => x > 255)) return undefined
    h = h.slice(0, v4.index) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`
  }
  const halves = h.split('::')
  if (halves.length > 2) return undefined
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map(g => /^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)
  const head = parse(halves[0]!)
  const tail = halves.length === 2 ? parse(halves[1]!) : []
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0
  const groups = [...head, ...new Array<number>(Math.max(fill, 0)).fill(0), ...tail]
  if (groups.length !== 8 || groups.some(Number.isNaN) || (halves.length === 2 && fill < 1)) return undefined
  return groups
}

const ipOf = addressKeyOf

/** ip and port: the same for the raw connection the gater sees and the upgraded one. */
function hostPortOf (addr: { toString(): string }): string {
  return /^(\/[^/]+\/[^/]+\/[^/]+\/[^/]+)/.exec(addr.toString())?.[1] ?? addr.toString()
}

/** Per-address connection accounting for the key service's gater. */
class AddressLimiter {
  private readonly open = new Map<string, number>()
  /** Accepted but not yet upgraded connections, by remote address, with the time they came. */
  private readonly pending = new Map<string, number>()
  readonly stats: KeyServiceStats = { refusedConnections: 0, idleClosed: 0 }
  constructor (readonly limits: KeyServiceLimits) {}

  deny (addr: { toString(): string }): boolean {
    const ip = ipOf(addr)
    const now = Date.now()
    let n = this.open.get(ip) ?? 0
    for (const [a, at] of this.pending) {
      // an upgrade that never finished stops counting after the idle timeout
      if (now - at > this.limits.idleTimeoutMs) this.pending.delete(a)
      else if (ipOf(a) === ip) n++
    }
    if (n >= this.limits.maxConnectionsPerAddress) {
      this.stats.refusedConnections++
      return true
    }
    this.pending.set(hostPortOf(addr), now)
    return false
  }

  /** The raw connection closed: a handshake that failed frees its slot now, not after the timeout. */
  released (addr: { toString(): string }): void {
    this.pending.delete(hostPortOf(addr))
  }

  /** Accepted connections still in their handshake (for tests and the stats). */
  get pendingCount (): number {
    return this.pending.size
  }

  opened (addr: { toString(): string }): void {
    this.pending.delete(hostPortOf(addr))
    const ip = ipOf(addr)
    this.open.set(ip, (this.open.get(ip) ?? 0) + 1)
  }

  closed (addr: { toString(): string }): void {
    const ip = ipOf(addr)
    const n = (this.open.get(ip) ?? 1) - 1
    if (n <= 0) this.open.delete(ip)
    else this.open.set(ip, n)
  }
}

async function tryStart (init: KeyServiceInit, listen: string[], limiter: AddressLimiter): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // many members may come back at once after a rotation, often from one address (NAT, tests)
    connectionManager: { maxConnections: 128, maxIncomingPendingConnections: 32, inboundConnectionThreshold: 50 },
    connectionGater: {
      denyInboundConnection: (maConn) => {
        if (limiter.deny(maConn.remoteAddr)) return true
        maConn.addEventListener('close', () => { limiter.released(maConn.remoteAddr) }, { once: true })
        return false
      }
    },
    start: false
  })
  const timers = new Map<string, ReturnType<typeof setTimeout>>()
  node.addEventListener('connection:open', (evt) => {
    const conn = evt.detail
    if (conn.direction !== 'inbound') return
    limiter.opened(conn.remoteAddr)
    const t = setTimeout(() => {
      limiter.stats.idleClosed++
      void conn.close().catch(() => { conn.abort(new Error('key service idle timeout')) })
    }, limiter.limits.idleTimeoutMs)
    t.unref?.()
    timers.set(conn.id, t)
  })
  node.addEventListener('connection:close', (evt) => {
    const conn = evt.detail
    if (conn.direction !== 'inbound') return
    limiter.closed(conn.remoteAddr)
    clearTimeout(timers.get(conn.id))
    timers.delete(conn.id)
  })
  node.addEventListener('stop', () => { for (const t of timers.values()) clearTimeout(t); timers.clear() })
  await node.handle(SWARM_KEY_PROTOCOL, init.handler, { maxInboundStreams: 16 })
  try {
    await node.start()
  } catch (err) {
    try { await node.stop() } catch { /* already failing: keep the start error */ }
    throw err
  }
  return node
}

/** Starts the key service; if the wanted ports are taken, falls back to free ones. */
export async function startKeyService (init: KeyServiceInit): Promise<KeyService> {
  let node: Libp2p
  const limiter = new AddressLimiter({ ...DEFAULT_KEY_SERVICE_LIMITS, ...init.limits })
  try {
    node = await tryStart(init, init.listen, limiter)
  } catch {
    node = await tryStart(init, init.listen.map(a => a.replace(/\/tcp\/\d+/, '/tcp/0')), limiter)
  }
  const self = node.peerId.toString()
  const addrs = node.getMultiaddrs().map(a => a.toString()).map(a => a.includes('/p2p/') ? a : `${a}/p2p/${self}`)
  const listen = addrs.map(a => a.replace(/\/p2p\/[^/]+$/, ''))
  return {
    addrs,
    listen,
    stop: async () => { await node.stop() },
    stats: () => ({ ...limiter.stats, pendingHandshakes: limiter.pendingCount })
  }
}

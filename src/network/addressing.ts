/**
 * Pure helpers of the `Network` implementation: what a dial target is (peer id or multiaddr),
 * which transport a connection runs over, which addresses a host is bound to, how listen ports
 * are kept across host generations, and how an aborted operation's error is named.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { AbortedError, InvalidArgumentError, TimeoutError } from '../errors.js'
import type { DmsnetHost, PeerConnectionInfo } from './types.js'
import type { AbortOptions, Connection, PeerId } from '@libp2p/interface'

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

export interface TransportManagerLike {
  listen(addrs: Multiaddr[]): Promise<void>
  getAddrs(): Multiaddr[]
}

/**
 * libp2p has no public call to listen on more addresses or to list the bound (not announced)
 * ones; both live on the transport manager component. Reached defensively so a libp2p upgrade that
 * moves it degrades `listen`/`status` instead of crashing them.
 */
export function transportManagerOf (host: DmsnetHost): TransportManagerLike | undefined {
  const tm = (host as unknown as { components?: { transportManager?: Partial<TransportManagerLike> } }).components?.transportManager
  return typeof tm?.listen === 'function' && typeof tm.getAddrs === 'function' ? tm as TransportManagerLike : undefined
}

export function listenAddrsOf (host: DmsnetHost): Multiaddr[] {
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

export function toPeerId (peer: string | PeerId): PeerId {
  if (typeof peer !== 'string') return peer
  try {
    return peerIdFromString(peer)
  } catch (err) {
    throw new InvalidArgumentError(`not a peer id: "${peer}"`, { cause: err })
  }
}

export type Target = { kind: 'peer', peerId: PeerId } | { kind: 'addr', addr: Multiaddr, peerId?: PeerId }

export function toTarget (target: string | PeerId | Multiaddr): Target {
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

export function wrapAbort (err: unknown, options?: AbortOptions): Error | undefined {
  if (options?.signal?.aborted === true) {
    const reason = options.signal.reason as Error | undefined
    return reason?.name === 'TimeoutError' ? new TimeoutError('operation timed out', { cause: err }) : new AbortedError('operation aborted', { cause: err })
  }
  return undefined
}


/** The status view of one libp2p connection; `latencyMs` is our last ping, else libp2p's RTT. */
export function connectionInfo (c: Connection, latencyMs?: number): PeerConnectionInfo {
  return {
    peerId: c.remotePeer.toString(),
    direction: c.direction,
    remoteAddr: c.remoteAddr.toString(),
    transport: transportOf(c.remoteAddr),
    limited: c.limits != null,
    latencyMs: latencyMs ?? c.rtt,
    openedAt: c.timeline.open
  }
}

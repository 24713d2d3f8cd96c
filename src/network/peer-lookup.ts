/**
 * Finding and reaching a peer: an open connection, else the peer store's addresses, else a DHT
 * lookup (bounded by the dial timeout), and one DHT retry when stored addresses turned out stale.
 * Errors come out typed: DialError, PeerNotFoundError, TimeoutError/AbortedError.
 */
import { DialError, InvalidArgumentError, PeerNotFoundError } from '../errors.js'
import { sleep } from '../util/sleep.js'
import { withTimeout } from '../util/signal.js'
import { toPeerId, toTarget, wrapAbort } from './addressing.js'
import type { Logger } from '../logging.js'
import type { DmsnetHost } from './types.js'
import type { AbortOptions, Connection, PeerId, PublicKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface PeerLookupContext {
  host: DmsnetHost
  self: PeerId
  dialTimeoutMs: number
  log: Logger
  /** Dials made again after a reset before the connection was up (see dialOnce). */
  counters?: DialCounters
}

export interface DialCounters {
  connectResetRetries: number
}

/**
 * Pause before the one retry of a dial reset before its connection was up. The usual cause is a
 * peer replacing its listener on the same port (a swarm key switch restarts its host): a
 * connection that reached the old listener is reset, the new one accepts a moment later.
 */
const RESET_RETRY_PAUSE_MS = 250

/** True when the remote reset the TCP connection (ECONNRESET anywhere in the error's cause chain). */
export function isConnectionReset (err: unknown, depth = 0): boolean {
  if (err == null || typeof err !== 'object' || depth > 6) return false
  const e = err as { code?: unknown, cause?: unknown, errors?: unknown }
  if (e.code === 'ECONNRESET') return true
  if (Array.isArray(e.errors) && e.errors.some(x => isConnectionReset(x, depth + 1))) return true
  return isConnectionReset(e.cause, depth + 1)
}

/**
 * One libp2p dial, made once more (after a short pause, within the caller's signal) when it failed
 * because the remote reset the connection before it was up: the only dial failure that a second
 * try a moment later is likely to cure. Any other failure, and a second reset, go to the caller.
 */
async function dialOnce (ctx: PeerLookupContext, target: PeerId | Multiaddr, options?: AbortOptions): Promise<Connection> {
  try {
    return await ctx.host.dial(target, options)
  } catch (err) {
    if (!isConnectionReset(err) || options?.signal?.aborted === true) throw err
    if (ctx.counters != null) ctx.counters.connectResetRetries++
    ctx.log.debug({ target: target.toString(), err }, 'dial reset before the connection was up; trying once more')
    await sleep(RESET_RETRY_PAUSE_MS, options?.signal)
    return await ctx.host.dial(target, options)
  }
}

/** Dial by peer id string, PeerId or multiaddr (string or object). */
export async function dialTarget (ctx: PeerLookupContext, target: string | PeerId | Multiaddr, options?: AbortOptions): Promise<Connection> {
  const { host } = ctx
  const t = toTarget(target)
  try {
    if (t.kind === 'addr') return await dialOnce(ctx, t.addr, options)
    const existing = host.getConnections(t.peerId).find(c => c.status === 'open')
    if (existing != null) return existing
    const fromStore = await ensureAddresses(ctx, t.peerId, options)
    try {
      return await dialOnce(ctx, t.peerId, options)
    } catch (err) {
      // the peer store's addresses may be stale: ask the DHT once before giving up
      if (!fromStore || options?.signal?.aborted === true) throw err
      ctx.log.debug({ peer: t.peerId.toString(), err }, 'dial with stored addresses failed; trying a DHT lookup')
      await lookup(ctx, t.peerId, options)
      return await dialOnce(ctx, t.peerId, options)
    }
  } catch (err) {
    const aborted = wrapAbort(err, options)
    if (aborted != null) throw aborted
    if (err instanceof PeerNotFoundError || err instanceof InvalidArgumentError) throw err
    const what = t.kind === 'addr' ? t.addr.toString() : t.peerId.toString()
    throw new DialError(`cannot dial ${what}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Makes sure the peer store has addresses for `peerId`, asking the DHT if not. Returns true when
 * the peer store already had some (they may be stale).
 */
async function ensureAddresses (ctx: PeerLookupContext, peerId: PeerId, options?: AbortOptions): Promise<boolean> {
  if (peerId.equals(ctx.self)) throw new InvalidArgumentError('cannot dial self')
  try {
    const peer = await ctx.host.peerStore.get(peerId)
    if (peer.addresses.length > 0) return true
  } catch {
    // not in the peer store
  }
  await lookup(ctx, peerId, options)
  return false
}

/** DHT `findPeer`, bounded by the dial timeout; the answer goes to the peer store. */
async function lookup (ctx: PeerLookupContext, peerId: PeerId, options?: AbortOptions): Promise<void> {
  const { host } = ctx
  const signal = withTimeout(options?.signal, ctx.dialTimeoutMs)
  try {
    const info = await host.peerRouting.findPeer(peerId, { signal })
    if (info.multiaddrs.length === 0) throw new PeerNotFoundError(`peer ${peerId.toString()} has no known addresses`)
    await host.peerStore.merge(peerId, { multiaddrs: info.multiaddrs })
  } catch (err) {
    if (options?.signal?.aborted === true) throw wrapAbort(err, options)!
    if (err instanceof PeerNotFoundError) throw err
    throw new PeerNotFoundError(`peer ${peerId.toString()} not found (peer store, DHT): ${(err as Error).message}`, { cause: err })
  }
}

/** A peer's addresses: the peer store's, else a DHT lookup (Go DMS `ResolveAddress`). */
export async function resolveAddress (ctx: PeerLookupContext, peer: string | PeerId, options?: AbortOptions): Promise<string[]> {
  const peerId = toPeerId(peer)
  if (peerId.equals(ctx.self)) return ctx.host.getMultiaddrs().map(a => a.toString())
  await ensureAddresses(ctx, peerId, options)
  const stored = await ctx.host.peerStore.get(peerId, options)
  return stored.addresses.map(a => a.multiaddr.toString())
}

/** A peer's public key: from its id (Ed25519, secp256k1) or the peer store (Go `GetPeerPubKey`). */
export async function peerPublicKey (host: DmsnetHost | undefined, peer: string | PeerId, options?: AbortOptions): Promise<PublicKey> {
  const peerId = toPeerId(peer)
  if (peerId.publicKey != null) return peerId.publicKey
  try {
    const stored = await host?.peerStore.get(peerId, options)
    if (stored?.id.publicKey != null) return stored.id.publicKey
  } catch {
    // not known yet
  }
  throw new PeerNotFoundError(`public key of ${peerId.toString()} is not known (RSA ids carry none until identify ran)`)
}

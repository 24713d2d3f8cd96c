/**
 * A member's short-lived public dialer to the creator's key service: a minimal libp2p node (same
 * identity, TCP + Noise + yamux, no PSK, no listener, no DHT) started for one key request and
 * stopped after it.
 *
 * Why a second node: the member's own host speaks only the swarm's PSK, and the key service
 * speaks none, so asking it used to mean leaving the swarm first (dropping every swarm
 * connection) on the mere suspicion of a missed rotation. With this dialer a member can ask
 * "which epoch is current?" while it stays in the swarm, and switch only when the answer is a
 * newer key. The request is authenticated exactly as before: Noise proves our peer id to the key
 * service, and the key comes back sealed to our public key.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { DialError } from '../errors.js'
import { sleep } from '../util/sleep.js'
import { withTimeout } from '../util/signal.js'
import { InvalidInviteError, SealError, SwarmProtocolError, SwarmUnauthorizedError } from './errors.js'
import { openSealed } from './seal.js'
import { decodePayload, request, SWARM_KEY_PROTOCOL, type KeyPayload, type SwarmMessage } from './wire.js'
import type { SwarmContext } from './context.js'
import type { AbortOptions, PrivateKey, Stream } from '@libp2p/interface'

/** Opens a key-protocol stream to one key-service address. */
export type KeyServiceDialer = (addr: string, protocol: string, options: AbortOptions) => Promise<Stream>

/**
 * Runs `fn` with a dialer of its own (one node for all of `fn`'s attempts), then stops the node
 * whatever `fn` did.
 */
export async function withKeyServiceDialer<T> (privateKey: PrivateKey, fn: (dial: KeyServiceDialer) => Promise<T>): Promise<T> {
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  try {
    return await fn(async (addr, protocol, options) => await node.dialProtocol(multiaddr(addr), protocol, options))
  } finally {
    try { await node.stop() } catch { /* a node that fails to stop holds no key and no listener */ }
  }
}

export interface FetchKeyRequest {
  /** The key service's addresses (with /p2p/<creator>). */
  addrs: string[]
  creator: string
  /** The swarm's name, when known (an invite or a held state names it). */
  name?: string | undefined
  invite?: string | undefined
  /** The epoch held (informational for the creator). */
  epoch?: number | undefined
  /** From withKeyServiceDialer: never the node's own host (member.ts fetchKey says why). */
  dial: KeyServiceDialer
}

/**
 * Asks the creator's key service for the current key, sealed to us; typed errors for a refusal
 * (`SwarmUnauthorizedError`, `InvalidInviteError`), `SealError` for a payload naming another swarm
 * or creator, `DialError` when no address answered in three rounds.
 */
export async function fetchKeyFrom (ctx: SwarmContext, req: FetchKeyRequest, options?: AbortOptions): Promise<KeyPayload> {
  const { addrs, creator, name } = req
  let last: unknown
  // a short retry: the key service may be busy (many members at once) or restarting
  for (const addr of [...addrs, ...addrs, ...addrs]) {
    if (last != null) await sleep(300)
    const signal = withTimeout(options?.signal, ctx.requestTimeoutMs)
    let reply: SwarmMessage
    try {
      const stream = await req.dial(addr, SWARM_KEY_PROTOCOL, { signal })
      reply = await request(stream, { t: 'get', swarm: name ?? '', invite: req.invite, epoch: req.epoch }, { signal })
    } catch (err) {
      options?.signal?.throwIfAborted()
      last = err
      continue
    }
    if (reply.t === 'err') {
      if (reply.code === 'unauthorized') throw new SwarmUnauthorizedError(`the swarm creator refused the key: ${reply.message}`)
      if (reply.code === 'bad-invite') throw new InvalidInviteError(`the swarm creator refused the invite: ${reply.message}`)
      last = new SwarmProtocolError(`key request failed: ${reply.code}: ${reply.message}`)
      continue
    }
    if (reply.t !== 'key') {
      last = new SwarmProtocolError(`unexpected reply ${reply.t}`)
      continue
    }
    const { plaintext } = await openSealed(ctx.privateKey, ctx.self, reply.env, creator)
    const payload = decodePayload(plaintext)
    if (payload.creator !== creator || (name != null && name !== '' && payload.swarm !== name)) {
      throw new SealError('key payload names another swarm or creator')
    }
    return payload
  }
  throw new DialError(`cannot reach the swarm creator's key service (${addrs.join(', ')}): ${(last as Error | undefined)?.message ?? 'no address'}`, { cause: last })
}

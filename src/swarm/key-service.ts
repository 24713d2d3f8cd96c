/**
 * The creator's key service: a second, minimal libp2p host (same identity, TCP + Noise + yamux,
 * no PSK, no DHT or pubsub) that serves only the key-exchange protocol.
 *
 * Why a second listener: while the creator is inside its swarm, its main host speaks only the
 * PSK, so a new member (holding an invite) or a member that missed a rotation (holding a stale
 * key) could not reach it. This host stays reachable on the public network for exactly one
 * protocol, and every request on it is authenticated by the requester's peer id from Noise.
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
}

export interface KeyServiceInit {
  privateKey: PrivateKey
  /** TCP listen multiaddrs; a port of 0 picks a free one. */
  listen: string[]
  handler: StreamHandler
}

async function tryStart (init: KeyServiceInit, listen: string[]): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // many members may come back at once after a rotation, often from one address (NAT, tests)
    connectionManager: { maxConnections: 128, maxIncomingPendingConnections: 32, inboundConnectionThreshold: 50 },
    start: false
  })
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
  try {
    node = await tryStart(init, init.listen)
  } catch {
    node = await tryStart(init, init.listen.map(a => a.replace(/\/tcp\/\d+/, '/tcp/0')))
  }
  const self = node.peerId.toString()
  const addrs = node.getMultiaddrs().map(a => a.toString()).map(a => a.includes('/p2p/') ? a : `${a}/p2p/${self}`)
  const listen = addrs.map(a => a.replace(/\/p2p\/[^/]+$/, ''))
  return {
    addrs,
    listen,
    stop: async () => { await node.stop() }
  }
}

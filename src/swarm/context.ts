/**
 * What the creator and member roles share: the network, the state store, the node's identity,
 * the profiles to switch between, and the one-request-per-stream sender of the key protocol.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidArgumentError } from '../errors.js'
import { withTimeout } from '../util/signal.js'
import { pskProtector } from './protector.js'
import { request, SWARM_KEY_PROTOCOL, type SwarmMessage } from './wire.js'
import type { Logger } from '../logging.js'
import type { SwarmStore } from './store.js'
import type { SwarmState } from './state.js'
import type { SwarmEvents } from './types.js'
import type { HostProfile, Network } from '../network/types.js'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'

export type Emit = <K extends keyof SwarmEvents>(name: K, detail: SwarmEvents[K]['detail']) => void

export function checkPeerId (p: string): string {
  try {
    return peerIdFromString(p).toString()
  } catch (err) {
    throw new InvalidArgumentError(`not a peer id: "${p}"`, { cause: err })
  }
}

export function withP2p (addr: string, peer: string): string {
  return /\/p2p\/[^/]+$/.test(addr) ? addr : `${addr}/p2p/${peer}`
}

export interface SwarmContextInit {
  network: Network
  store: SwarmStore
  log: Logger
  privateKey: PrivateKey
  publicProfile: HostProfile
  requestTimeoutMs: number
  emit: Emit
}

export class SwarmContext {
  readonly network: Network
  readonly store: SwarmStore
  readonly log: Logger
  readonly privateKey: PrivateKey
  readonly self: string
  readonly publicProfile: HostProfile
  readonly requestTimeoutMs: number
  readonly emit: Emit
  started = false

  constructor (init: SwarmContextInit) {
    this.network = init.network
    this.store = init.store
    this.log = init.log
    this.privateKey = init.privateKey
    this.self = init.network.peerId.toString()
    this.publicProfile = init.publicProfile
    this.requestTimeoutMs = init.requestTimeoutMs
    this.emit = init.emit
  }

  get state (): SwarmState | undefined {
    return this.store.state
  }

  swarmProfile (state: SwarmState): HostProfile {
    return {
      name: `swarm:${state.name}`,
      connectionProtector: pskProtector({ psk: new Uint8Array(Buffer.from(state.psk, 'hex')) }),
      dhtProtocolPrefix: `/dmsnet/swarm/${state.name}`,
      bootstrap: state.bootstrap.filter(a => !a.endsWith(`/p2p/${this.self}`)),
      allowPeers: this.store.allowed
    }
  }

  inSwarm (): boolean {
    const s = this.state
    return s != null && this.network.profile.name === `swarm:${s.name}`
  }

  async toPublic (options?: AbortOptions): Promise<void> {
    if (this.network.profile.name !== this.publicProfile.name) await this.network.switchProfile(this.publicProfile, options)
  }

  ownSwarmAddrs (): string[] {
    if (!this.network.started) return []
    return this.network.getMultiaddrs()
      .map(a => a.toString())
      .filter(a => !a.includes('/p2p-circuit'))
      .map(a => withP2p(a, this.self))
  }

  /** Our current swarm addresses plus the other peers' entries of `list` (a restarted creator redials its members). */
  mergeOwnAddrs (list: string[]): string[] {
    return [...new Set([...this.ownSwarmAddrs(), ...list.filter(a => !a.endsWith(`/p2p/${this.self}`))])]
  }

  /** Peers of the live allow-list (creator and trusted members) we are connected to. */
  connectedMembers (): string[] {
    if (!this.network.started || this.state == null || !this.inSwarm()) return []
    return this.network.peers().filter(p => this.store.allowed.has(p))
  }

  /** Drops connections to peers the allow-list no longer admits (the gater only checks new ones). */
  dropDisallowed (): void {
    if (!this.network.started || !this.inSwarm()) return
    for (const p of this.network.peers()) {
      if (!this.store.allowed.has(p)) void this.network.hangUp(p).catch(() => {})
    }
  }

  /** One request/reply on a new key-protocol stream to `peer`. */
  async send (peer: string, msg: SwarmMessage, options?: AbortOptions, timeoutMs = this.requestTimeoutMs): Promise<SwarmMessage> {
    const signal = withTimeout(options?.signal, timeoutMs)
    const stream = await this.network.dialProtocol(peer, SWARM_KEY_PROTOCOL, { signal })
    return await request(stream, msg, { signal })
  }
}

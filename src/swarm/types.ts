/**
 * Public types of the swarm manager: its events, status, options and interface.
 */
import type { Logger } from '../logging.js'
import type { KeyServiceLimits } from './key-service.js'
import type { ErrorCode } from './wire.js'
import type { Config } from '../config/schema.js'
import type { Network } from '../network/types.js'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'
import type { TypedEventEmitter } from 'main-event'

export interface SwarmEvents {
  'swarm:joined': CustomEvent<{ name: string, epoch: number, role: 'creator' | 'member' }>
  'swarm:left': CustomEvent<{ name: string }>
  /** This node now uses key epoch `epoch` (after a rotation or a recovery). */
  'swarm:epoch': CustomEvent<{ name: string, epoch: number }>
  /** Creator: a key request was refused (logged too). */
  'swarm:refused': CustomEvent<{ peerId: string, reason: ErrorCode }>
  /** Member: the creator says we are no longer authorised; the node is back on the public network. */
  'swarm:revoked': CustomEvent<{ name: string }>
  /** Member: the swarm could not be reached with the held key; asking the creator for the current one. */
  'swarm:recovering': CustomEvent<{ name: string, epoch: number }>
}

export interface SwarmStatus {
  name?: string
  role?: 'creator' | 'member'
  joined: boolean
  epoch?: number
  creator?: string
  /** Network profile in use (`public` or `swarm:<name>`). */
  profile: string
  authorised: string[]
  /** Authorised peers (and the creator) we have a connection to right now. */
  connected: string[]
  bootstrap: string[]
  keyService: string[]
  /** Creator: key requests refused since start. */
  refused: number
  /** Creator: outstanding (unused, unexpired) invites. */
  invites: number
  /** Revision of the membership statement held (member) or issued (creator). */
  membershipSeq?: number
  /** Member: true while a fresh membership statement is held (other members are admitted). */
  membershipFresh?: boolean
  /** Member: key-service checks after the creator went away (epoch-probe.ts): run, found a newer epoch, unreachable. */
  epochProbes?: { runs: number, moved: number, failed: number }
  /** Creator: connections the key service refused (per-address limit) or closed (idle). */
  keyServiceStats?: { refusedConnections: number, idleClosed: number, pendingHandshakes?: number }
  /** Creator-only messages (push, switch, members, revoked) refused from other peers. */
  foreignMessages: number
  /** Key-protocol streams that ended without a reply, by kind (protocol.ts); absent for a static key. */
  protocolFailures?: { malformed: number, oversized: number, timeout: number, closed: number }
}

export interface RotateResult {
  epoch: number
  /** Members that received the new key and were told to switch. */
  delivered: string[]
  /** Connected members that could not be reached (they recover through the key service). */
  failed: string[]
}

export type JoinTarget = string | { creator: string, name?: string }

export interface SwarmManager {
  addEventListener: TypedEventEmitter<SwarmEvents>['addEventListener']
  removeEventListener: TypedEventEmitter<SwarmEvents>['removeEventListener']
  /** Registers the key-exchange protocol and resumes a persisted swarm (rejoins it). */
  start(options?: AbortOptions): Promise<void>
  /** Stops timers and the key service; does not leave the swarm (a restart rejoins it). */
  stop(options?: AbortOptions): Promise<void>
  /** Creates swarm `name` with this node as creator and bootstrap node, and enters it. */
  create(name: string, authorised?: string[], options?: AbortOptions): Promise<SwarmStatus>
  authorize(peerId: string, options?: AbortOptions): Promise<void>
  /** Removes `peerId`; by default also rotates the key so its copy becomes useless. */
  revoke(peerId: string, options?: AbortOptions & { rotate?: boolean }): Promise<void>
  /** A one-time invite token (default validity 24 h). */
  invite(options?: AbortOptions & { ttlMs?: number }): Promise<string>
  /** Join by invite token, by the creator's key-service address, or rejoin a known swarm by name. */
  join(target: JoinTarget, options?: AbortOptions): Promise<SwarmStatus>
  /** Back to the public network (persisted). */
  leave(options?: AbortOptions): Promise<void>
  /** Creator: new key epoch, pushed sealed to connected members, then everyone switches. */
  rotate(options?: AbortOptions): Promise<RotateResult>
  status(): SwarmStatus
}

export interface SwarmManagerInit {
  network: Network
  config: Pick<Config, 'swarm' | 'network'>
  logger?: Logger
  /** The node's identity key (must match `network.peerId`): a component the composition reads once. */
  privateKey: PrivateKey
  /**
   * Creator: listen addresses of the public key service. Default: the TCP addresses of
   * `config.network.listen` with port 0 (a free port, then kept across restarts).
   */
  keyServiceListen?: string[]
  /** How long a (re)joining member tries the swarm with its key before asking the creator. Default 10 s. */
  rejoinTimeoutMs?: number
  /** How often a member checks it is still connected to the swarm. Default 15 s. */
  watchdogIntervalMs?: number
  /**
   * Member: how long after the creator's connection closed (and it did not come back) the member
   * asks the creator's key service whether it missed a rotation (jittered up to 2x). Default 2 s.
   */
  epochProbeDelayMs?: number
  /** Per request to the creator / per push to a member. Default 10 s. */
  requestTimeoutMs?: number
  /**
   * Member: how often the creator's membership statement is refreshed while connected to it.
   * Default 60 s.
   */
  membershipRefreshMs?: number
  /**
   * Member: how long a membership statement received from the creator counts as fresh. Without
   * a fresh one only the creator is admitted and the member recovers through the key service.
   * Default 5 min.
   */
  membershipMaxAgeMs?: number
  /** Creator: limits of the public key service (per-address connections, idle timeout). */
  keyServiceLimits?: Partial<KeyServiceLimits>
  /** Creator: refused key requests logged per peer and reason at most once per this. Default 60 s. */
  refusalLogIntervalMs?: number
}

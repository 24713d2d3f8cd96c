/**
 * Public types of the messaging module: configuration, handlers, options, events, stats.
 */
import type { AbortOptions } from '@libp2p/interface'
import type { ReplayCacheStats } from './replay-cache.js'

export interface MessagingConfig {
  /** Largest payload (and envelope) accepted or sent, bytes. Default 1 MiB. */
  maxMessageSize: number
  /** Unacknowledged messages allowed per peer per direction. Default 256. */
  maxInFlight: number
  /** Lifetime given to an envelope when the caller does not set one, ms. Default 60 s. */
  defaultExpiryMs: number
  /** Envelopes expiring further than this in the future are refused (the replay window), ms. Default 2 min. */
  replayWindowMs: number
  /** Default time a `sendMessage` / `request` waits for its acknowledgement, ms. Default 10 s. */
  ackTimeoutMs: number
  /** Protocol id of the direct-message stream where every message is a signed envelope (still answered; used with peers that lack `protocolV2`). */
  protocol: string
  /** Protocol id of the direct-message stream where messages may be authenticated by the connection (compact, unsigned) or signed. Tried first. */
  protocolV2: string
  /** Sign every direct message even where the connection authenticates it (default false; per message: `SendOptions.signed`). */
  signDirect: boolean
  /** A given (peer, drop reason) is logged at most once per interval, ms. Default 60 s. */
  dropLogIntervalMs: number
  /** Re-advertising period for DHT advertisements, ms. Default 1 h. */
  advertiseIntervalMs: number
  /** Lifetime of a DHT advertisement record, ms. Default 2 x advertiseIntervalMs. */
  advertTtlMs: number
  /** Gossip topic carrying bid requests. */
  jobsTopic: string
  /** Replay cache bound (nonces per sender). */
  replayCacheEntriesPerSender: number
  /** Replay cache: new senders one forwarding peer may introduce while they are live. Default 1024. */
  replayCacheSendersPerPeer: number
  /** Replay cache: live nonces one forwarding peer may have remembered. Default 65536. */
  replayCacheEntriesPerPeer: number
  /** Bytes of inbound direct messages being verified/handled per peer before `flood` refusals. Default 32 MiB. */
  maxInFlightBytesPerPeer: number
  /** Same, over all peers. Default 256 MiB. */
  maxInFlightBytes: number
  /**
   * Time one inbound frame may take to arrive once its first byte came, ms (default 30 s: a full
   * 1 MiB frame at 35 kB/s). A peer that trickles a frame slower is cut off (`slow` drop), so a
   * half-sent frame cannot hold up to `maxMessageSize` of our memory for the life of a stream.
   */
  frameTimeoutMs: number
}

export const DEFAULT_MESSAGING_CONFIG: Readonly<MessagingConfig> = Object.freeze({
  maxMessageSize: 1024 * 1024,
  maxInFlight: 256,
  defaultExpiryMs: 60_000,
  replayWindowMs: 120_000,
  ackTimeoutMs: 10_000,
  protocol: '/dmsnet/msg/1.0.0',
  protocolV2: '/dmsnet/msg/2.0.0',
  signDirect: false,
  dropLogIntervalMs: 60_000,
  advertiseIntervalMs: 3_600_000,
  advertTtlMs: 7_200_000,
  jobsTopic: '/dmsnet/jobs/1.0.0',
  replayCacheEntriesPerSender: 16384,
  replayCacheSendersPerPeer: 1024,
  replayCacheEntriesPerPeer: 65536,
  maxInFlightBytesPerPeer: 32 * 1024 * 1024,
  maxInFlightBytes: 256 * 1024 * 1024,
  frameTimeoutMs: 30_000
})

/** A verified message handed to a handler. */
export interface ReceivedMessage {
  type: string
  payload: Uint8Array
  /** Peer id of the (verified) sender. */
  from: string
  replyTo?: string
  topic?: string
  nonce: Uint8Array
  /** ms since the epoch */
  expiry: number
  /**
   * What proves `from`: its signature over the envelope (`signature`: pubsub, signed direct
   * messages), or the authenticated connection it arrived on (`connection`: compact direct
   * messages on `/dmsnet/msg/2.0.0`). Absent where an older caller built the message.
   */
  authenticatedBy?: 'signature' | 'connection'
}

/**
 * Handles one message type. Returning (or resolving) means "accepted": the sender's
 * `sendMessage` resolves then. A returned `Uint8Array` is the response of a `request`.
 * Throwing refuses the message (`MessageRejectedError` with reason `handler-error` at the sender).
 */
export type MessageHandler = (message: ReceivedMessage) => void | Uint8Array | Promise<void | Uint8Array>

export interface SendOptions extends AbortOptions {
  /** How long to wait for the acknowledgement / response (default `config.ackTimeoutMs`). */
  timeoutMs?: number
  /** Envelope lifetime (default `config.defaultExpiryMs`). */
  ttlMs?: number
  replyTo?: string
  /**
   * Send a signed envelope even where the connection authenticates the message (default
   * `config.signDirect`): for a receiver that must hold the sender's signature, not just its word.
   */
  signed?: boolean
}

/** Why an incoming message was dropped or refused (label of `dmsnet_messages_dropped_total`). */
export type DropReason =
  | 'undecodable'
  | 'oversized'
  | 'bad-signature'
  | 'wrong-sender'
  | 'expired'
  | 'expiry-too-far'
  | 'replayed'
  | 'topic-mismatch'
  | 'flood'
  | 'no-handler'
  | 'handler-error'
  | 'validator'
  /** An unsigned (compact) message on a connection whose encrypter does not authenticate the peer. */
  | 'unauthenticated'
  /** A frame that took longer than `frameTimeoutMs` to arrive: the stream is reset. */
  | 'slow'
  /** An answer frame on one of our outbound streams that matches no call in flight (late or forged). */
  | 'unsolicited'

export interface MessagingEvents {
  /** A fire-and-forget `send` failed. */
  'message:send-failed': CustomEvent<{ peer: string, type: string, error: Error }>
  /** An incoming message (direct or gossip) was dropped. */
  'message:dropped': CustomEvent<{ peer: string, reason: DropReason }>
}

export interface MessagingStats {
  sent: number
  acked: number
  sendFailed: number
  received: number
  published: number
  delivered: number
  dropped: Partial<Record<DropReason, number>>
  inFlight: number
  outboundStreams: number
  inboundStreams: number
  replayCacheSize: number
  /** Bytes of inbound direct messages being verified or handled right now. */
  inboundInFlightBytes: number
  /** Bytes of inbound frames received in part (waiting for the rest), all streams. */
  inboundBufferedBytes: number
  replayCache: ReplayCacheStats
}

/** pino-compatible subset. */
export interface MessagingLogger {
  debug: (obj: object, msg?: string) => void
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

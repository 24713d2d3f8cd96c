/**
 * Direct messaging between peers over one long-lived stream per peer and direction, acknowledged
 * after verification and handler acceptance, with request/response. On `/dmsnet/msg/2.0.0` a
 * message is authenticated by the connection (compact body) unless signed on request; on
 * `/dmsnet/msg/1.0.0` (older peers) every message is a signed envelope.
 *
 * Receive path (src/messaging/inbound.ts), in order: frame bounds -> in-flight bounds -> decode
 * -> [signed: sender == authenticated remote peer -> signature] -> expiry window -> replay cache
 * -> handler. Anything failing a step is dropped, counted (`dmsnet_messages_dropped_total{reason}`),
 * NACKed when the framing still allows it, and logged at most once per peer and reason per
 * interval; other peers are unaffected.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import type { AbortOptions, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import type { Registry } from 'prom-client'
import { InvalidArgumentError, NotStartedError } from '../errors.js'
import type { Network } from '../network/types.js'
import { OutboundChannel, abortable } from './channel.js'
import { NoncePool, encodeCompactHeader } from './compact.js'
import { DropError, InboundStreams, envelopeMessage } from './inbound.js'
import { MAX_ADVERT_LIFETIME_MS } from './advert-record.js'
import { MAX_NAME_LENGTH, decodeEnvelope, signEnvelope, signEnvelopeSync, verifyEnvelopeSignature, type DecodedEnvelope, type Envelope, type PublicKeyLookup } from './envelope.js'
import { MessageRejectedError, MessageTooLargeError, NoHandlerError, StreamClosedError } from './errors.js'
import { createSigner, createSyncSigner, type SignFn, type SyncSignFn } from './fast-ed25519.js'
import { MessageFlags } from './framing.js'
import { MessagingMetrics } from './metrics.js'
import { HandlerRegistry } from './registry.js'
import { ReplayCache } from './replay-cache.js'
import { DEFAULT_MESSAGING_CONFIG, type DropReason, type MessageHandler, type MessagingConfig, type MessagingEvents, type MessagingLogger, type MessagingStats, type ReceivedMessage, type SendOptions } from './types.js'
import { withTimeout } from '../util/signal.js'

/** Room for the frame header and the envelope's own fields around a maximal payload. */
export const ENVELOPE_OVERHEAD = 4096

export interface MessagingInit {
  network: Network
  /** The node's libp2p identity key (the one the host runs with): signs every envelope. */
  privateKey: PrivateKey
  config?: Partial<MessagingConfig>
  logger?: MessagingLogger
  /** prom-client registry for the module's counters. */
  metrics?: Registry
}

export { DropError, MAX_UNREAD_REPLY_BYTES } from './inbound.js'

export class MessagingCore extends TypedEventEmitter<MessagingEvents> {
  readonly config: MessagingConfig
  readonly network: Network
  readonly privateKey: PrivateKey
  private readonly signer: SignFn
  private readonly syncSigner?: SyncSignFn
  readonly metrics: MessagingMetrics
  readonly replay: ReplayCache
  readonly handlers = new HandlerRegistry()
  readonly logger?: MessagingLogger
  private readonly channels = new Map<string, Promise<OutboundChannel>>()
  private readonly inbound: InboundStreams
  private readonly nonces = new NoncePool()
  private unlistenHost?: () => void
  private pruneTimer?: ReturnType<typeof setInterval>
  private running = false
  /** Extra hooks run on `host:changed` (pubsub re-attachment, ...). */
  readonly hostChangeHooks: Array<() => void> = []
  readonly stopHooks: Array<() => Promise<void> | void> = []
  readonly startHooks: Array<() => Promise<void> | void> = []

  constructor (init: MessagingInit) {
    super()
    this.network = init.network
    this.privateKey = init.privateKey
    this.signer = createSigner(init.privateKey)
    this.syncSigner = createSyncSigner(init.privateKey)
    this.config = { ...DEFAULT_MESSAGING_CONFIG, ...init.config }
    validateConfig(this.config)
    this.logger = init.logger
    this.metrics = new MessagingMetrics(init.metrics, init.logger, this.config.dropLogIntervalMs)
    this.replay = new ReplayCache({
      maxEntriesPerSender: this.config.replayCacheEntriesPerSender,
      maxSendersPerPeer: this.config.replayCacheSendersPerPeer,
      maxEntriesPerPeer: this.config.replayCacheEntriesPerPeer
    })
    this.inbound = new InboundStreams(this)
  }

  get peerId (): PeerId {
    return this.network.peerId
  }

  get started (): boolean {
    return this.running
  }

  async start (_options?: AbortOptions): Promise<void> {
    if (this.running) return
    const limits = { maxInboundStreams: 16, maxOutboundStreams: 16 }
    await this.network.handle(this.config.protocol, (stream, connection) => { this.inbound.serve(stream, connection, false) }, limits)
    try {
      await this.network.handle(this.config.protocolV2, (stream, connection) => { this.inbound.serve(stream, connection, true) }, limits)
    } catch (err) {
      await this.network.unhandle(this.config.protocol).catch(() => {})
      throw err
    }
    this.unlistenHost = this.network.eventRegister('host:changed', () => {
      // The old host's streams are gone: fail their in-flight calls now, re-dial lazily.
      this.closeChannels(new StreamClosedError('host changed'))
      for (const h of this.hostChangeHooks) h()
    })
    this.pruneTimer = setInterval(() => { this.replay.prune() }, 30_000)
    this.pruneTimer.unref()
    this.running = true
    for (const h of this.startHooks) await h()
  }

  async stop (_options?: AbortOptions): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const h of this.stopHooks) await h()
    this.unlistenHost?.()
    clearInterval(this.pruneTimer)
    this.closeChannels(new StreamClosedError('messaging stopped'))
    this.inbound.abortAll(new StreamClosedError('messaging stopped'))
    await this.network.unhandle(this.config.protocol).catch(() => {})
    await this.network.unhandle(this.config.protocolV2).catch(() => {})
  }

  registerHandler (type: string, handler: MessageHandler): void {
    this.handlers.register(type, handler)
  }

  unregisterHandler (type: string): boolean {
    return this.handlers.unregister(type)
  }

  /** Resolves once the remote verified the message and its handler accepted it. */
  async sendMessage (peer: string | PeerId, type: string, payload: Uint8Array, options: SendOptions = {}): Promise<void> {
    await this.deliver(peer, type, payload, 0, options)
  }

  /** Fire and forget: failures are emitted as `message:send-failed`. */
  send (peer: string | PeerId, type: string, payload: Uint8Array, options: SendOptions = {}): void {
    this.deliver(peer, type, payload, 0, options).catch((error: Error) => {
      this.safeDispatch('message:send-failed', { peer: peer.toString(), type, error })
    })
  }

  /** Sends a message whose handler's return value comes back as the response. */
  async request (peer: string | PeerId, type: string, payload: Uint8Array, options: SendOptions = {}): Promise<Uint8Array> {
    const r = await this.deliver(peer, type, payload, MessageFlags.WantResponse, options)
    return r ?? new Uint8Array(0)
  }

  /** Builds and signs an envelope with our key (used by pubsub and jobs too). */
  async sign (type: string, payload: Uint8Array, options: { ttlMs?: number, replyTo?: string, topic?: string } = {}): Promise<{ envelope: Envelope, bytes: Uint8Array }> {
    const expiry = this.expiryFor(payload, options.ttlMs)
    return signEnvelope(this.signer, this.peerId, {
      type,
      payload,
      nonce: this.nonces.next(),
      expiry,
      ...(options.replyTo != null ? { replyTo: options.replyTo } : {}),
      ...(options.topic != null ? { topic: options.topic } : {})
    })
  }

  /** Checks a payload and lifetime to send; returns the expiry. */
  private expiryFor (payload: Uint8Array, ttlMs: number | undefined): number {
    if (!(payload instanceof Uint8Array)) throw new InvalidArgumentError('payload must be a Uint8Array')
    if (payload.byteLength > this.config.maxMessageSize) {
      throw new MessageTooLargeError(`payload of ${payload.byteLength} bytes exceeds messaging.maxMessageSize ${this.config.maxMessageSize}`)
    }
    const ttl = ttlMs ?? this.config.defaultExpiryMs
    if (!(ttl > 0) || ttl > this.config.replayWindowMs) throw new InvalidArgumentError(`ttlMs must be in (0, ${this.config.replayWindowMs}]`)
    return Date.now() + ttl
  }

  /**
   * Verifies envelope bytes received from `remote` (omit for gossip, where the caller checks the
   * publisher) and returns the decoded envelope. `via` names the account its replay memory is
   * charged to (gossip: the forwarding peer; default: the sender's own direct account). Throws
   * `DropError` with the reason.
   */
  async verify (bytes: Uint8Array, remote: PeerId | undefined, lookup?: PublicKeyLookup, via?: string): Promise<DecodedEnvelope> {
    let decoded: DecodedEnvelope
    try {
      decoded = decodeEnvelope(bytes, this.config.maxMessageSize)
    } catch (err) {
      if (err instanceof MessageTooLargeError) throw new DropError('oversized', err.message)
      throw new DropError('undecodable', (err as Error).message)
    }
    if (remote != null && !decoded.senderId.equals(remote)) {
      throw new DropError('wrong-sender', `envelope claims ${decoded.envelope.sender}`)
    }
    const now = Date.now()
    if (decoded.envelope.expiry < now) throw new DropError('expired', `expired ${now - decoded.envelope.expiry} ms ago`)
    // beyond the replay window a nonce would have to be remembered for longer than we promise to
    if (decoded.envelope.expiry > now + this.config.replayWindowMs + 30_000) throw new DropError('expiry-too-far', `expires ${decoded.envelope.expiry - now} ms from now, past the replay window`)
    if (!await verifyEnvelopeSignature(decoded, lookup ?? this.lookupKey)) throw new DropError('bad-signature', 'signature does not verify')
    this.checkReplay(decoded.envelope.sender, decoded.envelope.nonce, decoded.envelope.expiry, now, via ?? `direct:${decoded.envelope.sender}`)
    return decoded
  }

  /** Expiry window and replay cache for a connection-authenticated message `sender` sent us directly. */
  checkFresh (sender: string, nonce: Uint8Array, expiry: number): void {
    const now = Date.now()
    if (expiry < now) throw new DropError('expired', `expired ${now - expiry} ms ago`)
    if (expiry > now + this.config.replayWindowMs + 30_000) throw new DropError('expiry-too-far', `expires ${expiry - now} ms from now, past the replay window`)
    this.checkReplay(sender, nonce, expiry, now, `direct:${sender}`)
  }

  private checkReplay (sender: string, nonce: Uint8Array, expiry: number, now: number, via: string): void {
    const verdict = this.replay.check(sender, nonce, expiry, now, via)
    if (verdict === 'replayed') throw new DropError('replayed', 'nonce seen before')
    if (verdict === 'quota') throw new DropError('flood', 'the forwarding peer is over its replay-cache quota', true)
    if (verdict === 'full') throw new DropError('flood', 'replay cache full: message refused')
  }

  async dispatch (envelope: Envelope): Promise<Uint8Array | undefined> {
    return await this.dispatchMessage(envelopeMessage(envelope, 'signature'))
  }

  /**
   * Runs the handler of `msg.type`: synchronously when the handler returns a value (no promise
   * on the hot path), else a promise. Throws / rejects with `DropError`.
   */
  dispatchMessage (msg: ReceivedMessage): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    const handler = this.handlers.get(msg.type)
    if (handler == null) throw new DropError('no-handler', msg.type)
    let result: ReturnType<MessageHandler>
    try {
      result = handler(msg)
    } catch (err) {
      throw handlerError(err)
    }
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then((r) => this.accepted(r), (err: unknown) => { throw handlerError(err) })
    }
    return this.accepted(result)
  }

  private accepted (result: void | Uint8Array): Uint8Array | undefined {
    this.metrics.onReceived()
    return result instanceof Uint8Array ? result : undefined
  }

  stats (): MessagingStats {
    let inFlight = 0
    let outboundStreams = 0
    for (const ch of this.openChannels) {
      inFlight += ch.load
      outboundStreams++
    }
    return {
      ...this.metrics.stats,
      dropped: { ...this.metrics.stats.dropped },
      inFlight,
      outboundStreams,
      inboundStreams: this.inbound.size,
      replayCacheSize: this.replay.size,
      inboundInFlightBytes: this.inbound.inFlightByteCount,
      inboundBufferedBytes: this.inbound.bufferedByteCount,
      replayCache: this.replay.stats()
    }
  }

  countDrop (peer: string, reason: DropReason, detail?: string): void {
    this.metrics.onDrop(peer, reason, detail)
    this.safeDispatch('message:dropped', { peer, reason })
  }

  private readonly openChannels = new Set<OutboundChannel>()
  /** Channels that finished opening, looked up without a promise on every send (dropped when unusable). */
  private readonly ready = new Map<string, OutboundChannel>()

  private readonly lookupKey: PublicKeyLookup = async (peer) => {
    try {
      return await this.network.peerPublicKey(peer)
    } catch {
      return undefined
    }
  }

  private async deliver (peer: string | PeerId, type: string, payload: Uint8Array, flags: number, options: SendOptions): Promise<Uint8Array | undefined> {
    if (!this.running) throw new NotStartedError('messaging is not started')
    const target = peer.toString()
    const timeoutMs = options.timeoutMs ?? this.config.ackTimeoutMs
    const deadline = Date.now() + timeoutMs
    // an AbortSignal (and its timer) only where something needs one: dialling, local dispatch
    const signalFor = (): AbortSignal => withTimeout(options.signal, timeoutMs)
    if (target === this.peerId.toString()) {
      const signOpts = { ...(options.ttlMs != null ? { ttlMs: options.ttlMs } : {}), ...(options.replyTo != null ? { replyTo: options.replyTo } : {}) }
      return this.deliverLocal(type, payload, signOpts, signalFor())
    }
    const signed = options.signed ?? this.config.signDirect
    // checked before any dial: a bad send fails the same way whatever the peer speaks
    const expiry = this.expiryFor(payload, options.ttlMs)
    if (typeof type !== 'string' || type.length === 0 || type.length > MAX_NAME_LENGTH) throw new InvalidArgumentError(`message type must be a string of 1-${MAX_NAME_LENGTH} characters`)
    if (options.replyTo != null && (options.replyTo.length === 0 || options.replyTo.length > MAX_NAME_LENGTH)) throw new InvalidArgumentError(`replyTo must be a string of 1-${MAX_NAME_LENGTH} characters`)
    try {
      let ch = this.ready.get(target)
      if (ch?.usable !== true) ch = await this.channel(target, signalFor())
      let parts: Uint8Array[]
      if (ch.compact && !signed) {
        parts = [encodeCompactHeader(flags, { type, nonce: this.nonces.next(), expiry, ...(options.replyTo != null ? { replyTo: options.replyTo } : {}) }), payload]
      } else {
        // signed synchronously where the key allows, so concurrent sends leave in call order
        const fields = { type, payload, nonce: this.nonces.next(), expiry, ...(options.replyTo != null ? { replyTo: options.replyTo } : {}) }
        const { bytes } = this.syncSigner != null ? signEnvelopeSync(this.syncSigner, this.peerId, fields) : await signEnvelope(this.signer, this.peerId, fields)
        parts = [Uint8Array.of(ch.compact ? flags | MessageFlags.Signed : flags), bytes]
      }
      const r = await ch.call(parts, { timeoutMs: Math.max(1, deadline - Date.now()), ...(options.signal != null ? { signal: options.signal } : {}) })
      this.metrics.onSent(true)
      return r
    } catch (err) {
      this.metrics.onSent(false)
      throw err
    }
  }

  private async deliverLocal (type: string, payload: Uint8Array, signOpts: { ttlMs?: number, replyTo?: string }, signal: AbortSignal): Promise<Uint8Array | undefined> {
    const { envelope } = await this.sign(type, payload, signOpts)
    try {
      const r = await abortable(this.dispatch(envelope), signal)
      this.metrics.onSent(true)
      return r
    } catch (err) {
      this.metrics.onSent(false)
      if (err instanceof DropError) {
        if (err.reason === 'no-handler') throw new NoHandlerError(`no handler for "${type}"`)
        throw new MessageRejectedError(`local handler refused the message: ${err.message}`, err.reason, { cause: err.cause })
      }
      throw err
    }
  }

  private async channel (peer: string, signal: AbortSignal): Promise<OutboundChannel> {
    this.ready.delete(peer)
    const existing = this.channels.get(peer)
    if (existing != null) {
      const ch = await abortable(existing, signal).catch(() => undefined)
      if (ch?.usable === true) return ch
      if (this.channels.get(peer) === existing) this.channels.delete(peer)
      ch?.shutdown(new StreamClosedError('stream not usable'))
      if (signal.aborted) await abortable(existing, signal) // throws the typed abort error
    }
    const opening = (async () => {
      const { stream, compact } = await this.openStream(peer, signal)
      const ch = new OutboundChannel(peer, stream, compact, this.config.maxInFlight, this.maxFrame, (closed) => {
        this.openChannels.delete(closed)
        if (this.ready.get(peer) === closed) this.ready.delete(peer)
        void this.channels.get(peer)?.then(c => { if (c === closed) this.channels.delete(peer) }, () => {})
      }, (reason, detail) => { this.countDrop(peer, reason, detail) })
      this.openChannels.add(ch)
      return ch
    })()
    this.channels.set(peer, opening)
    // still the current channel once open (not replaced or closed meanwhile): sends skip the promise
    opening.then((ch) => { if (this.channels.get(peer) === opening && ch.usable) this.ready.set(peer, ch) }, () => {})
    opening.catch(() => { if (this.channels.get(peer) === opening) this.channels.delete(peer) })
    return opening
  }

  /** A stream on protocolV2, or on the signed-only protocol for a peer that does not speak it. */
  private async openStream (peer: string, signal: AbortSignal): Promise<{ stream: Stream, compact: boolean }> {
    try {
      return { stream: await this.network.dialProtocol(peer, this.config.protocolV2, { signal }), compact: true }
    } catch (err) {
      if (signal.aborted || !isUnsupportedProtocol(err)) throw err
      return { stream: await this.network.dialProtocol(peer, this.config.protocol, { signal }), compact: false }
    }
  }

  get maxFrame (): number {
    return this.config.maxMessageSize + ENVELOPE_OVERHEAD
  }

  private closeChannels (err: Error): void {
    for (const ch of this.openChannels) {
      ch.shutdown(err)
      try { ch.stream.abort(err) } catch { // already closed
      }
    }
    this.openChannels.clear()
    this.channels.clear()
    this.ready.clear()
  }

  private safeDispatch<K extends keyof MessagingEvents> (name: K, detail: MessagingEvents[K]['detail']): void {
    try {
      this.safeDispatchEvent(name, { detail } as never)
    } catch (err) {
      this.logger?.error({ err }, `listener of ${name} threw`)
    }
  }
}

/** The remote does not speak the protocol (multistream-select said "na"), by name along the cause chain. */
function isUnsupportedProtocol (err: unknown): boolean {
  for (let e = err as { name?: string, cause?: unknown } | undefined, i = 0; e != null && i < 5; e = e.cause as typeof e, i++) {
    if (e.name === 'UnsupportedProtocolError') return true
  }
  return false
}

function isPromiseLike (v: unknown): v is PromiseLike<void | Uint8Array> {
  return v != null && typeof (v as { then?: unknown }).then === 'function'
}

function handlerError (err: unknown): DropError {
  const e = new DropError('handler-error', (err as Error)?.message ?? String(err))
  e.cause = err
  return e
}

function validateConfig (c: MessagingConfig): void {
  const positive = ['maxMessageSize', 'maxInFlight', 'defaultExpiryMs', 'replayWindowMs', 'ackTimeoutMs', 'dropLogIntervalMs', 'advertiseIntervalMs', 'advertTtlMs', 'replayCacheEntriesPerSender',
    'replayCacheSendersPerPeer', 'replayCacheEntriesPerPeer', 'maxInFlightBytesPerPeer', 'maxInFlightBytes', 'frameTimeoutMs'] as const
  for (const k of positive) {
    const v = c[k]
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`messaging.${k} must be a positive number, got ${String(v)}`)
  }
  if (c.advertTtlMs > MAX_ADVERT_LIFETIME_MS) throw new InvalidArgumentError(`messaging.advertTtlMs must be at most ${MAX_ADVERT_LIFETIME_MS} (the maximum record lifetime)`)
  if (c.maxMessageSize > 64 * 1024 * 1024) throw new InvalidArgumentError('messaging.maxMessageSize must be at most 64 MiB')
  if (c.maxInFlightBytesPerPeer < c.maxMessageSize + ENVELOPE_OVERHEAD || c.maxInFlightBytes < c.maxInFlightBytesPerPeer) {
    throw new InvalidArgumentError('messaging.maxInFlightBytesPerPeer must hold one largest message, and maxInFlightBytes must be at least maxInFlightBytesPerPeer')
  }
  if (c.defaultExpiryMs > c.replayWindowMs) throw new InvalidArgumentError('messaging.defaultExpiryMs must not exceed messaging.replayWindowMs')
  if (!c.protocol.startsWith('/')) throw new InvalidArgumentError('messaging.protocol must start with "/"')
  if (!c.protocolV2.startsWith('/') || c.protocolV2 === c.protocol) throw new InvalidArgumentError('messaging.protocolV2 must start with "/" and differ from messaging.protocol')
}


/**
 * Direct messaging between peers: signed envelopes over one long-lived stream per peer and
 * direction, acknowledged after verification and handler acceptance, with request/response.
 *
 * Receive path, in order: frame bounds -> envelope decode -> sender == authenticated remote peer
 * -> expiry window -> signature -> replay cache -> handler. Anything failing a step is dropped,
 * counted (`dmsnet_messages_dropped_total{reason}`), NACKed when the framing still allows it,
 * and logged at most once per peer and reason per interval; other peers are unaffected.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { randomBytes } from 'node:crypto'
import type { AbortOptions, Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import type { Registry } from 'prom-client'
import { InvalidArgumentError, NotStartedError } from '../errors.js'
import type { Network } from '../network/types.js'
import { OutboundChannel, abortable } from './channel.js'
import { MAX_ADVERT_LIFETIME_MS } from './advert-record.js'
import { decodeEnvelope, signEnvelope, verifyEnvelopeSignature, NONCE_LENGTH, type DecodedEnvelope, type Envelope, type PublicKeyLookup } from './envelope.js'
import { MessageRejectedError, MessageTooLargeError, NoHandlerError, StreamClosedError } from './errors.js'
import { createSigner, type SignFn } from './fast-ed25519.js'
import { FrameDecoder, FrameKind, FrameWriter, MessageFlags, ShortFrameError, encodeFrame, encodeNack } from './framing.js'
import { MessagingMetrics } from './metrics.js'
import { HandlerRegistry } from './registry.js'
import { ReplayCache } from './replay-cache.js'
import { DEFAULT_MESSAGING_CONFIG, type DropReason, type MessageHandler, type MessagingConfig, type MessagingEvents, type MessagingLogger, type MessagingStats, type ReceivedMessage, type SendOptions } from './types.js'

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

/** Thrown inside the receive path: carries the drop reason to count and NACK. */

/** Bytes of acks/responses waiting for a peer to read before its stream is cut. */
export const MAX_UNREAD_REPLY_BYTES = 4 * 1024 * 1024

export class DropError extends Error {
  static override name = 'DropError'
  /** `blame`: the peer that handed us the message is at fault (gossip scores it), not just the signer. */
  constructor (readonly reason: DropReason, message: string, readonly blame = false) {
    super(message)
  }
}

export class MessagingCore extends TypedEventEmitter<MessagingEvents> {
  readonly config: MessagingConfig
  readonly network: Network
  readonly privateKey: PrivateKey
  private readonly signer: SignFn
  readonly metrics: MessagingMetrics
  readonly replay: ReplayCache
  readonly handlers = new HandlerRegistry()
  readonly logger?: MessagingLogger
  private readonly channels = new Map<string, Promise<OutboundChannel>>()
  private readonly inbound = new Set<Stream>()
  private readonly inboundInFlight = new Map<string, number>()
  /** Bytes of messages being verified or handled, per peer and in all. */
  private readonly inboundInFlightBytes = new Map<string, number>()
  private inFlightBytes = 0
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
    this.config = { ...DEFAULT_MESSAGING_CONFIG, ...init.config }
    validateConfig(this.config)
    this.logger = init.logger
    this.metrics = new MessagingMetrics(init.metrics, init.logger, this.config.dropLogIntervalMs)
    this.replay = new ReplayCache({
      maxEntriesPerSender: this.config.replayCacheEntriesPerSender,
      maxSendersPerPeer: this.config.replayCacheSendersPerPeer,
      maxEntriesPerPeer: this.config.replayCacheEntriesPerPeer
    })
  }

  get peerId (): PeerId {
    return this.network.peerId
  }

  get started (): boolean {
    return this.running
  }

  async start (_options?: AbortOptions): Promise<void> {
    if (this.running) return
    await this.network.handle(this.config.protocol, (stream, connection) => { this.serveInbound(stream, connection) }, {
      maxInboundStreams: 16,
      maxOutboundStreams: 16
    })
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
    for (const s of this.inbound) s.abort(new StreamClosedError('messaging stopped'))
    this.inbound.clear()
    await this.network.unhandle(this.config.protocol).catch(() => {})
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
    if (!(payload instanceof Uint8Array)) throw new InvalidArgumentError('payload must be a Uint8Array')
    if (payload.byteLength > this.config.maxMessageSize) {
      throw new MessageTooLargeError(`payload of ${payload.byteLength} bytes exceeds messaging.maxMessageSize ${this.config.maxMessageSize}`)
    }
    const ttl = options.ttlMs ?? this.config.defaultExpiryMs
    if (!(ttl > 0) || ttl > this.config.replayWindowMs) throw new InvalidArgumentError(`ttlMs must be in (0, ${this.config.replayWindowMs}]`)
    return signEnvelope(this.signer, this.peerId, {
      type,
      payload,
      nonce: randomBytes(NONCE_LENGTH),
      expiry: Date.now() + ttl,
      ...(options.replyTo != null ? { replyTo: options.replyTo } : {}),
      ...(options.topic != null ? { topic: options.topic } : {})
    })
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
    const verdict = this.replay.check(decoded.envelope.sender, decoded.envelope.nonce, decoded.envelope.expiry, now, via ?? `direct:${decoded.envelope.sender}`)
    if (verdict === 'replayed') throw new DropError('replayed', 'nonce seen before')
    if (verdict === 'quota') throw new DropError('flood', 'the forwarding peer is over its replay-cache quota', true)
    if (verdict === 'full') throw new DropError('flood', 'replay cache full: message refused')
    return decoded
  }

  /**
   * Verifies and dispatches one envelope received from `remote`; returns the handler's response.
   * Throws `DropError` (bad input) or the handler's own error.
   */
  async processMessage (bytes: Uint8Array, remote: PeerId): Promise<Uint8Array | undefined> {
    const { envelope } = await this.verify(bytes, remote)
    return this.dispatch(envelope)
  }

  async dispatch (envelope: Envelope): Promise<Uint8Array | undefined> {
    const handler = this.handlers.get(envelope.type)
    if (handler == null) throw new DropError('no-handler', envelope.type)
    const msg: ReceivedMessage = {
      type: envelope.type,
      payload: envelope.payload,
      from: envelope.sender,
      nonce: envelope.nonce,
      expiry: envelope.expiry,
      ...(envelope.replyTo != null ? { replyTo: envelope.replyTo } : {}),
      ...(envelope.topic != null ? { topic: envelope.topic } : {})
    }
    let result: void | Uint8Array
    try {
      result = await handler(msg)
    } catch (err) {
      const e = new DropError('handler-error', (err as Error)?.message ?? String(err))
      e.cause = err
      throw e
    }
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
      inboundInFlightBytes: this.inFlightBytes,
      replayCache: this.replay.stats()
    }
  }

  countDrop (peer: string, reason: DropReason, detail?: string): void {
    this.metrics.onDrop(peer, reason, detail)
    this.safeDispatch('message:dropped', { peer, reason })
  }

  private readonly openChannels = new Set<OutboundChannel>()

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
    const signal = options.signal != null ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs)
    const signOpts = { ...(options.ttlMs != null ? { ttlMs: options.ttlMs } : {}), ...(options.replyTo != null ? { replyTo: options.replyTo } : {}) }
    if (target === this.peerId.toString()) return this.deliverLocal(type, payload, signOpts, signal)
    const { bytes } = await this.sign(type, payload, signOpts)
    try {
      const ch = await this.channel(target, signal)
      const r = await ch.call(bytes, flags, { signal })
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
    const existing = this.channels.get(peer)
    if (existing != null) {
      const ch = await abortable(existing, signal).catch(() => undefined)
      if (ch?.usable === true) return ch
      if (this.channels.get(peer) === existing) this.channels.delete(peer)
      ch?.shutdown(new StreamClosedError('stream not usable'))
      if (signal.aborted) await abortable(existing, signal) // throws the typed abort error
    }
    const opening = (async () => {
      const stream = await this.network.dialProtocol(peer, this.config.protocol, { signal })
      const ch = new OutboundChannel(peer, stream, this.config.maxInFlight, this.maxFrame, (closed) => {
        this.openChannels.delete(closed)
        void this.channels.get(peer)?.then(c => { if (c === closed) this.channels.delete(peer) }, () => {})
      })
      this.openChannels.add(ch)
      return ch
    })()
    this.channels.set(peer, opening)
    opening.catch(() => { if (this.channels.get(peer) === opening) this.channels.delete(peer) })
    return opening
  }

  private get maxFrame (): number {
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
  }

  private serveInbound (stream: Stream, connection: Connection): void {
    const remote = connection.remotePeer
    const remoteStr = remote.toString()
    const decoder = new FrameDecoder(this.maxFrame)
    let order: Promise<void> = Promise.resolve()
    this.inbound.add(stream)
    stream.addEventListener('close', () => { this.inbound.delete(stream) })
    const writer = new FrameWriter(stream)
    const reply = (frame: Uint8Array): void => {
      if (stream.writeStatus !== 'writable') return
      // A peer that keeps sending but never reads our acks would make us buffer them without
      // bound (the muxer's write buffer is unbounded): cut that stream instead.
      if (stream.writeBufferLength > MAX_UNREAD_REPLY_BYTES) {
        this.countDrop(remoteStr, 'flood', 'peer does not read its acknowledgements')
        stream.abort(new Error('peer does not read its acknowledgements'))
        return
      }
      writer.write(frame)
    }
    stream.addEventListener('message', (evt) => {
      let frames
      try {
        frames = decoder.push(evt.data)
      } catch (err) {
        // The length prefix is beyond the bound: framing is lost, reset this stream only.
        this.countDrop(remoteStr, 'oversized', (err as Error).message)
        stream.abort(err as Error)
        return
      }
      for (const f of frames) {
        if (f instanceof ShortFrameError) {
          this.countDrop(remoteStr, 'undecodable', f.message)
          continue
        }
        if (f.kind !== FrameKind.Message || f.rest.byteLength < 1) {
          this.countDrop(remoteStr, 'undecodable', `unexpected frame kind ${f.kind}`)
          reply(encodeNack(f.id, 'undecodable', 'unexpected frame'))
          continue
        }
        // the bounds are per peer, over all of its inbound streams, and over all peers
        const inFlight = this.inboundInFlight.get(remoteStr) ?? 0
        const size = f.rest.byteLength
        const peerBytes = this.inboundInFlightBytes.get(remoteStr) ?? 0
        const over = inFlight >= this.config.maxInFlight
          ? 'too many messages in flight'
          : peerBytes + size > this.config.maxInFlightBytesPerPeer
            ? 'too many bytes in flight from this peer'
            : this.inFlightBytes + size > this.config.maxInFlightBytes ? 'too many bytes in flight in all' : undefined
        if (over != null) {
          this.countDrop(remoteStr, 'flood', over)
          reply(encodeNack(f.id, 'flood', over))
          continue
        }
        this.inboundInFlight.set(remoteStr, inFlight + 1)
        this.inboundInFlightBytes.set(remoteStr, peerBytes + size)
        this.inFlightBytes += size
        const wantResponse = ((f.rest[0] as number) & MessageFlags.WantResponse) !== 0
        // Verification runs concurrently, but handlers are *started* strictly in arrival order:
        // each message's dispatch waits for the previous one's to have begun (not finished).
        const verified = this.verify(f.rest.subarray(1), remote)
        verified.catch(() => {}) // handled below, maybe after an earlier message's dispatch began
        const started = order.then(async () => {
          const { envelope } = await verified
          return { running: this.dispatch(envelope) }
        })
        order = started.then(() => {}, () => {})
        started.then(async ({ running }) => await running).then((response) => {
          if (wantResponse && response != null) {
            if (response.byteLength > this.config.maxMessageSize) {
              reply(encodeNack(f.id, 'response-too-large', `${response.byteLength} bytes`))
            } else {
              reply(encodeFrame(FrameKind.Response, f.id, response))
            }
          } else {
            reply(encodeFrame(wantResponse ? FrameKind.Response : FrameKind.Ack, f.id))
          }
        }, (err: Error) => {
          const reason: DropReason = err instanceof DropError ? err.reason : 'handler-error'
          this.countDrop(remoteStr, reason, err.message)
          reply(encodeNack(f.id, reason, err.message))
        }).finally(() => {
          const n = (this.inboundInFlight.get(remoteStr) ?? 1) - 1
          if (n <= 0) this.inboundInFlight.delete(remoteStr)
          else this.inboundInFlight.set(remoteStr, n)
          const b = (this.inboundInFlightBytes.get(remoteStr) ?? size) - size
          if (b <= 0) this.inboundInFlightBytes.delete(remoteStr)
          else this.inboundInFlightBytes.set(remoteStr, b)
          this.inFlightBytes -= size
        })
      }
    })
  }

  private safeDispatch<K extends keyof MessagingEvents> (name: K, detail: MessagingEvents[K]['detail']): void {
    try {
      this.safeDispatchEvent(name, { detail } as never)
    } catch (err) {
      this.logger?.error({ err }, `listener of ${name} threw`)
    }
  }
}

function validateConfig (c: MessagingConfig): void {
  const positive = ['maxMessageSize', 'maxInFlight', 'defaultExpiryMs', 'replayWindowMs', 'ackTimeoutMs', 'dropLogIntervalMs', 'advertiseIntervalMs', 'advertTtlMs', 'replayCacheEntriesPerSender',
    'replayCacheSendersPerPeer', 'replayCacheEntriesPerPeer', 'maxInFlightBytesPerPeer', 'maxInFlightBytes'] as const
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
}


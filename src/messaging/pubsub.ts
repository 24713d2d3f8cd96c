/**
 * Gossip pubsub on the host's gossipsub: every published payload travels inside a signed
 * envelope that names its topic, so a message is only accepted on the topic it was signed for,
 * by the peer that signed it, before it expires.
 *
 * Each topic has one gossipsub topic validator running the chain: envelope decode -> publisher
 * (gossipsub's signed `from`) == envelope sender -> topic match -> expiry -> signature -> replay
 * -> every subscription's own validator. Forged or malformed messages are `Reject`ed (gossipsub
 * penalises whoever forwarded them); expired or replayed ones are `Ignore`d (an honest relay may
 * have been slow). Rejections also feed an application score (P5) installed on the router.
 * Subscriptions are re-attached when the network swaps its host.
 */
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import { InvalidArgumentError } from '../errors.js'
import { MAX_NAME_LENGTH, type Envelope } from './envelope.js'
import { DropError, type MessagingCore } from './messaging.js'
import { envelopeMessage } from './inbound.js'
import type { DropReason, ReceivedMessage } from './types.js'

export type ValidatorVerdict = 'accept' | 'reject' | 'ignore' | boolean
/** A user validator: sees the verified message before any handler; may refuse it. */
export type TopicValidator = (message: ReceivedMessage, propagationSource: string) => ValidatorVerdict | Promise<ValidatorVerdict>
export type TopicHandler = (message: ReceivedMessage) => void | Promise<void>

export interface SubscribeOptions {
  validator?: TopicValidator
}

export interface Subscription {
  readonly topic: string
  readonly id: number
  unsubscribe (): void
}

export interface PublishOptions extends AbortOptions {
  /** Envelope lifetime (default `messaging.defaultExpiryMs`). */
  ttlMs?: number
  replyTo?: string
}

interface SubEntry { id: number, handler: TopicHandler, validator?: TopicValidator }

const REJECTED: ReadonlySet<DropReason> = new Set(['undecodable', 'oversized', 'bad-signature', 'wrong-sender', 'topic-mismatch', 'expiry-too-far'])

export class PubsubManager {
  private readonly topics = new Map<string, Map<number, SubEntry>>()
  private readonly verified = new WeakMap<Message, Envelope>()
  private readonly penalties = new Map<string, { value: number, at: number }>()
  private nextId = 1
  private attachedTo?: GossipSub
  private userScore?: (peer: string) => number

  constructor (private readonly core: MessagingCore) {
    core.hostChangeHooks.push(() => { this.attach() })
    core.startHooks.push(() => { this.attach() })
    core.stopHooks.push(() => { this.detach() })
  }

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    const envelope = this.verified.get(msg)
    if (envelope == null) return // not one of ours (or validated before our validator was set)
    const subs = this.topics.get(msg.topic)
    if (subs == null) return
    const received = toReceived(envelope)
    this.core.metrics.stats.delivered++
    for (const s of subs.values()) {
      Promise.resolve().then(async () => { await s.handler(received) }).catch((err: Error) => {
        this.core.logger?.warn({ err, topic: msg.topic }, 'topic handler threw')
      })
    }
  }

  private get pubsub (): GossipSub {
    return this.core.network.pubsub
  }

  /** (Re)attaches every subscription to the current host's gossipsub. */
  attach (): void {
    const ps = this.pubsub
    if (this.attachedTo !== ps) {
      this.attachedTo?.removeEventListener('message', this.onMessage)
      ps.addEventListener('message', this.onMessage)
      this.attachedTo = ps
      this.installScore(ps)
      this.countStrictSignDrops(ps)
    }
    for (const topic of this.topics.keys()) this.attachTopic(topic)
  }

  private detach (): void {
    const ps = this.attachedTo
    if (ps == null) return
    ps.removeEventListener('message', this.onMessage)
    for (const topic of this.topics.keys()) {
      ps.topicValidators.delete(topic)
      try { ps.unsubscribe(topic) } catch { /* host already stopped */ }
    }
    this.attachedTo = undefined
  }

  private attachTopic (topic: string): void {
    const ps = this.attachedTo
    if (ps == null) return
    ps.topicValidators.set(topic, async (peer, msg) => this.validate(topic, peer, msg))
    ps.subscribe(topic)
  }

  /** Extra application score for a peer (added to the messaging module's own penalty). */
  setAppScore (fn: ((peer: string) => number) | undefined): void {
    this.userScore = fn
  }

  /** The P5 application score of a peer: negative after it forwarded rejected messages. */
  appScore (peer: string): number {
    const p = this.penalties.get(peer)
    let own = 0
    if (p != null) {
      // the penalty halves every minute, so a peer can recover
      own = -p.value * Math.pow(0.5, (Date.now() - p.at) / 60_000)
    }
    return own + (this.userScore?.(peer) ?? 0)
  }

  private installScore (ps: GossipSub): void {
    try {
      // The router's score parameters are fixed at construction (src/network/host.ts); its P5
      // function is a plain field, so it is swapped in place rather than rebuilding the host.
      const params = (ps as unknown as { score?: { params?: { appSpecificScore?: (p: string) => number } } }).score?.params
      if (params != null) params.appSpecificScore = (p: string) => this.appScore(p)
    } catch (err) {
      this.core.logger?.warn({ err }, 'could not install the application score hook')
    }
  }

  /**
   * StrictSign makes gossipsub drop unsigned or badly signed gossip before any topic validator
   * runs, and it tells nobody (its own metrics are not wired): such messages would be dropped
   * without a counter. The router's pre-validation step is wrapped in place (as the score hook
   * above) to count them as our drops. Found by the go-libp2p interop suite (test/interop).
   */
  private countStrictSignDrops (ps: GossipSub): void {
    type Result = { code?: string, error?: string }
    type Validate = ((from: PeerId, rpc: unknown) => Promise<Result>) & { dmsnetCounted?: true }
    const router = ps as unknown as { validateReceivedMessage?: Validate }
    const original = router.validateReceivedMessage
    if (typeof original !== 'function' || original.dmsnetCounted === true) return
    const counted: Validate = async (from, rpc) => {
      const r = await original.call(ps, from, rpc)
      // `error` is set only by gossipsub's own checks (signature, seqno, author), not by topic validators
      if (r?.code === 'invalid' && typeof r.error === 'string') {
        this.core.countDrop(from.toString(), r.error === 'invalid_signature' ? 'bad-signature' : 'undecodable', `gossipsub refused: ${r.error}`)
        this.penalise(from.toString())
      }
      return r
    }
    counted.dmsnetCounted = true
    router.validateReceivedMessage = counted
  }

  private penalise (peer: string): void {
    const now = Date.now()
    const p = this.penalties.get(peer)
    const value = p == null ? 0 : p.value * Math.pow(0.5, (now - p.at) / 60_000)
    if (this.penalties.size > 10_000) this.penalties.clear()
    this.penalties.set(peer, { value: value + 1, at: now })
  }

  private async validate (topic: string, propagationSource: PeerId, msg: Message): Promise<TopicValidatorResult> {
    const source = propagationSource.toString()
    if (msg.type !== 'signed') {
      this.core.countDrop(source, 'undecodable', 'unsigned gossip message')
      this.penalise(source)
      return TopicValidatorResult.Reject
    }
    let envelope: Envelope
    try {
      // replay memory is charged to the forwarder's gossip account (apart from its direct one)
      envelope = (await this.core.verify(msg.data, msg.from, undefined, `gossip:${source}`)).envelope
      if (envelope.topic !== topic) throw new DropError('topic-mismatch', `signed for ${envelope.topic ?? '(no topic)'}`)
    } catch (err) {
      const reason: DropReason = err instanceof DropError ? err.reason : 'undecodable'
      this.core.countDrop(source, reason, (err as Error).message)
      // a flood is held against whoever forwarded it (it is over its replay-memory quota)
      if (REJECTED.has(reason) || (err instanceof DropError && err.blame)) {
        this.penalise(source)
        return TopicValidatorResult.Reject
      }
      return TopicValidatorResult.Ignore
    }
    const subs = this.topics.get(topic)
    if (subs != null) {
      const received = toReceived(envelope)
      for (const s of subs.values()) {
        if (s.validator == null) continue
        let verdict: ValidatorVerdict
        try {
          verdict = await s.validator(received, source)
        } catch {
          verdict = 'ignore'
        }
        if (verdict === true || verdict === 'accept') continue
        this.core.countDrop(source, 'validator', `user validator said ${String(verdict)}`)
        if (verdict === false || verdict === 'reject') {
          this.penalise(source)
          return TopicValidatorResult.Reject
        }
        return TopicValidatorResult.Ignore
      }
    }
    this.verified.set(msg, envelope)
    return TopicValidatorResult.Accept
  }

  async publish (topic: string, type: string, payload: Uint8Array, options: PublishOptions = {}): Promise<{ recipients: number }> {
    checkTopic(topic)
    const { bytes } = await this.core.sign(type, payload, {
      topic,
      ...(options.ttlMs != null ? { ttlMs: options.ttlMs } : {}),
      ...(options.replyTo != null ? { replyTo: options.replyTo } : {})
    })
    options.signal?.throwIfAborted()
    const r = await this.pubsub.publish(topic, bytes)
    this.core.metrics.stats.published++
    return { recipients: r.recipients.length }
  }

  subscribe (topic: string, handler: TopicHandler, options: SubscribeOptions = {}): Subscription {
    checkTopic(topic)
    if (typeof handler !== 'function') throw new InvalidArgumentError('handler must be a function')
    let subs = this.topics.get(topic)
    const first = subs == null
    if (subs == null) {
      subs = new Map()
      this.topics.set(topic, subs)
    }
    const id = this.nextId++
    subs.set(id, { id, handler, ...(options.validator != null ? { validator: options.validator } : {}) })
    if (first && this.core.started) {
      if (this.attachedTo == null) this.attach()
      else this.attachTopic(topic)
    }
    let active = true
    return {
      topic,
      id,
      unsubscribe: () => {
        if (!active) return
        active = false
        const s = this.topics.get(topic)
        s?.delete(id)
        if (s != null && s.size === 0) {
          this.topics.delete(topic)
          const ps = this.attachedTo
          if (ps != null) {
            ps.topicValidators.delete(topic)
            try { ps.unsubscribe(topic) } catch { /* host stopped */ }
          }
        }
      }
    }
  }

  /** Topics with at least one local subscription. */
  subscriptions (): string[] {
    return [...this.topics.keys()]
  }

  /** Peers gossipsub knows to be subscribed to `topic`. */
  peersOf (topic: string): string[] {
    return this.pubsub.getSubscribers(topic).map(p => p.toString())
  }
}

function checkTopic (topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_NAME_LENGTH) {
    throw new InvalidArgumentError(`topic must be a string of 1-${MAX_NAME_LENGTH} characters`)
  }
}

function toReceived (e: Envelope): ReceivedMessage {
  return envelopeMessage(e, 'signature')
}

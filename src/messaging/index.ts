/**
 * The messaging module: signed envelopes, direct messages with acknowledgement and
 * request/response, gossip pubsub with validators, signed DHT advertisements, and job bidding.
 *
 * ```ts
 * const messaging = createMessaging({ network, privateKey, config: config.messaging })
 * await messaging.start()
 * messaging.registerHandler('greet', (msg) => new TextEncoder().encode(`hi ${msg.from}`))
 * const answer = await messaging.request(peer, 'greet', new Uint8Array())
 * const sub = messaging.subscribe('/my/topic', (msg) => console.log(msg.from, msg.payload))
 * await messaging.publish('/my/topic', 'note', payload)
 * await messaging.advertise('service/gpu', data); const ads = await messaging.query('service/gpu')
 * const job = messaging.publishJob({ kind: 'docker', resources: { cpuCores: 2 } }, { deadlineMs: 3000 })
 * for await (const bid of job) console.log(bid)
 * ```
 */
import type { AbortOptions, PeerId } from '@libp2p/interface'
import { AdvertManager, type Advertisement } from './advertisements.js'
import { JobsManager, type Bidder, type BidRequest, type BidServer, type JobBidding, type PublishJobOptions, type ServeBidsOptions } from './jobs.js'
import { MessagingCore, type MessagingInit } from './messaging.js'
import { PubsubManager, type PublishOptions, type SubscribeOptions, type Subscription, type TopicHandler } from './pubsub.js'

export class Messaging extends MessagingCore {
  readonly pubsub: PubsubManager
  readonly adverts: AdvertManager
  readonly jobs: JobsManager

  constructor (init: MessagingInit) {
    super(init)
    this.pubsub = new PubsubManager(this)
    this.adverts = new AdvertManager(this)
    this.jobs = new JobsManager(this, this.pubsub)
  }

  /** Publishes a signed envelope on a gossip topic. */
  async publish (topic: string, type: string, payload: Uint8Array, options?: PublishOptions): Promise<{ recipients: number }> {
    return this.pubsub.publish(topic, type, payload, options)
  }

  subscribe (topic: string, handler: TopicHandler, options?: SubscribeOptions): Subscription {
    return this.pubsub.subscribe(topic, handler, options)
  }

  async advertise (key: string, data: Uint8Array, options?: AbortOptions): Promise<void> {
    return this.adverts.advertise(key, data, options)
  }

  async unadvertise (key: string, options?: AbortOptions): Promise<void> {
    return this.adverts.unadvertise(key, options)
  }

  async query (key: string, options?: AbortOptions): Promise<Advertisement[]> {
    return this.adverts.query(key, options)
  }

  async queryPeer (key: string, peer: string | PeerId, options?: AbortOptions): Promise<Advertisement | undefined> {
    return this.adverts.get(key, peer, options)
  }

  publishJob (request: Omit<BidRequest, 'id' | 'deadline' | 'orchestrator'> & { id?: string }, options?: PublishJobOptions): JobBidding {
    return this.jobs.publishJob(request, options)
  }

  serveBids (bidder: Bidder, options?: ServeBidsOptions): BidServer {
    return this.jobs.serveBids(bidder, options)
  }

  /** Extra gossipsub application score per peer, added to messaging's own penalty. */
  setAppScore (fn: ((peer: string) => number) | undefined): void {
    this.pubsub.setAppScore(fn)
  }
}

export function createMessaging (init: MessagingInit): Messaging {
  return new Messaging(init)
}

export * from './errors.js'
export * from './types.js'
export { MessagingCore, DropError, ENVELOPE_OVERHEAD, type MessagingInit } from './messaging.js'
export { decodeEnvelope, encodeEnvelope, signEnvelope, verifyEnvelopeSignature, type Envelope, type DecodedEnvelope } from './envelope.js'
export { FrameKind, encodeFrame, FrameDecoder } from './framing.js'
export { ReplayCache } from './replay-cache.js'
export type { PublishOptions, SubscribeOptions, Subscription, TopicHandler, TopicValidator, ValidatorVerdict } from './pubsub.js'
export { advertValidator, advertSelector, advertCid, ADVERT_NAMESPACE, type Advertisement } from './advertisements.js'
export { BID_REQUEST_TYPE, BID_TYPE, MAX_BIDS_PER_REQUEST, type Bid, type BidRequest, type Bidder, type BidResult, type BidServerStats, type BidTerms, type BidServer, type JobBidding, type PublishJobOptions, type Resources, type ServeBidsOptions } from './jobs.js'

/**
 * The messaging module: signed envelopes, direct messages with acknowledgement and
 * request/response, gossip pubsub with validators, signed DHT advertisements, and job bidding.
 *
 * ```ts
 * const messaging = createMessaging({ network, privateKey, config: config.messaging })
 * await messaging.start()
 * messaging.registerHandler('greet', (msg) => new TextEncoder().encode(`hi ${msg.from}`))
 * const answer = await messaging.request(peer, 'greet', new Uint8Array())
 * ```
 */
import { MessagingCore, type MessagingInit } from './messaging.js'

export type Messaging = MessagingCore

export function createMessaging (init: MessagingInit): Messaging {
  return new MessagingCore(init)
}

export * from './errors.js'
export * from './types.js'
export { MessagingCore, DropError, ENVELOPE_OVERHEAD, type MessagingInit } from './messaging.js'
export { decodeEnvelope, encodeEnvelope, signEnvelope, verifyEnvelopeSignature, type Envelope, type DecodedEnvelope } from './envelope.js'
export { FrameKind, encodeFrame, FrameDecoder } from './framing.js'
export { ReplayCache } from './replay-cache.js'

/**
 * Messaging control methods (`messaging.*`): what `dmsnet send|request|publish|subscribe|job`
 * call. Payloads cross the control API as text (`encoding: 'utf8'`, default) or base64.
 * Handlers: src/daemon/features/messaging.ts.
 */
import { z } from 'zod'
import { DialError, PeerNotFoundError, TimeoutError } from '../../errors.js'
import { DuplicateHandlerError, MessageRejectedError, MessageTooLargeError, NoHandlerError, StreamClosedError } from '../../messaging/errors.js'
import type { MessagingStats } from '../../messaging/types.js'
import { lazy, stream, typed, unary } from '../spec.js'

export const encoding = lazy(() => z.enum(['utf8', 'base64']).default('utf8'))
const timeoutMs = lazy(() => z.number().int().positive().max(600_000).optional())
const direct = lazy(() => z.object({ peer: z.string().min(1), type: z.string().min(1), payload: z.string().default(''), encoding: encoding(), timeoutMs: timeoutMs() }))
const directErrors = [MessageRejectedError, NoHandlerError, MessageTooLargeError, StreamClosedError, DialError, PeerNotFoundError, TimeoutError]

/** A message as `messaging.subscribe` and `messaging.inbox` show it. */
const received = lazy(() => z.object({
  from: z.string(),
  type: z.string(),
  topic: z.string().optional(),
  replyTo: z.string().optional(),
  payload: z.string(),
  bytes: z.number().int(),
  at: z.number()
}))

const resources = lazy(() => z.object({ cpuCores: z.number().nonnegative().optional(), memoryMiB: z.number().nonnegative().optional(), diskGiB: z.number().nonnegative().optional(), gpus: z.number().nonnegative().optional() }))

export const send = unary('messaging.send', {
  description: 'send a direct message and wait for its acknowledgement',
  params: () => direct(),
  result: () => z.object({ peer: z.string(), type: z.string(), acked: z.literal(true), ms: z.number() }),
  errors: directErrors
})

export const request = unary('messaging.request', {
  description: 'send a request and return the remote handler\'s response',
  params: () => direct(),
  result: () => z.object({ peer: z.string(), type: z.string(), response: z.string(), bytes: z.number().int(), ms: z.number() }),
  errors: directErrors
})

export const publish = unary('messaging.publish', {
  description: 'publish a signed message on a gossip topic',
  params: () => z.object({ topic: z.string().min(1), type: z.string().min(1).default('message'), payload: z.string().default(''), encoding: encoding() }),
  // at: the daemon's clock when the publish began (before signing), so a caller can time delivery without its own call's latency
  result: () => z.object({ recipients: z.number().int(), at: z.number() }),
  errors: [MessageTooLargeError]
})

export const topic = unary('messaging.topic', {
  description: 'who this node knows subscribes to a gossip topic (default: the jobs topic): the peers a publish here goes to first',
  params: () => z.object({ topic: z.string().min(1).optional() }),
  result: () => z.object({ topic: z.string(), subscribers: z.number().int(), subscribed: z.boolean() })
})

export const subscribe = stream('messaging.subscribe', {
  description: 'subscribe to a gossip topic; one line per verified message',
  params: () => z.object({ topic: z.string().min(1), encoding: encoding() }),
  result: () => received()
})

export const inbox = stream('messaging.inbox', {
  description: 'handle a direct message type while the caller listens; one line per message (acknowledged)',
  params: () => z.object({ type: z.string().min(1), encoding: encoding() }),
  result: () => received(),
  errors: [DuplicateHandlerError]
})

export const stats = unary('messaging.stats', {
  description: 'messaging counters (sent, acked, dropped by reason, streams)',
  result: () => typed<MessagingStats>('MessagingStats (src/messaging/types.ts)')
})

export const advertise = unary('messaging.advertise', {
  description: 'advertise data under a key in the DHT (signed, re-advertised)',
  params: () => z.object({ key: z.string().min(1), data: z.string().default(''), encoding: encoding() }),
  result: () => z.object({ key: z.string() }),
  errors: [MessageTooLargeError]
})

export const query = unary('messaging.query', {
  description: 'every valid advertisement for a key',
  params: () => z.object({ key: z.string().min(1), encoding: encoding() }),
  result: () => z.array(z.object({ peer: z.string(), data: z.string(), seq: z.number(), expiresAt: z.number() }))
})

export const jobPublish = stream('messaging.job.publish', {
  description: 'broadcast a bid request; one line per bid as it arrives, then a summary line',
  params: () => z.object({
    kind: z.string().min(1).default('generic'),
    resources: resources().default({}),
    maxPrice: z.number().optional(),
    deadlineMs: z.number().int().positive().max(600_000).default(5000),
    maxBids: z.number().int().positive().optional()
  }),
  result: () => z.discriminatedUnion('event', [
    z.object({
      event: z.literal('bid'),
      requestId: z.string(),
      n: z.number().int(),
      elapsedMs: z.number(),
      bid: z.object({ requestId: z.string(), bidder: z.string(), price: z.number(), resources: resources().optional(), info: z.unknown().optional(), createdAt: z.number() })
    }),
    z.object({ event: z.literal('done'), requestId: z.string(), bids: z.number().int(), elapsedMs: z.number() })
  ])
})

export const jobServe = stream('messaging.job.serve', {
  description: 'bid on bid requests at a fixed price while the caller listens; one line per bid offered, then one when it was delivered or given up on',
  params: () => z.object({ price: z.number().nonnegative(), maxCpuCores: z.number().nonnegative().optional() }),
  result: () => z.discriminatedUnion('event', [
    z.object({ event: z.literal('bid'), requestId: z.string(), orchestrator: z.string(), price: z.number(), at: z.number() }),
    z.object({ event: z.literal('sent'), requestId: z.string(), orchestrator: z.string(), attempts: z.number().int(), ms: z.number() }),
    z.object({ event: z.literal('failed'), requestId: z.string(), orchestrator: z.string(), attempts: z.number().int(), ms: z.number(), error: z.string() })
  ])
})

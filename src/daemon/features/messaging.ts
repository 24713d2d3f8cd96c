/**
 * The messaging plug-in: builds `Messaging` on the node's network and identity, and implements
 * its control methods (`messaging.*`, declared in src/control/catalogue/messaging.ts; see
 * docs/messaging.md). Payloads cross the control API as text (`encoding: 'utf8'`, default) or base64.
 */
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Gauge } from 'prom-client'
import { InvalidArgumentError } from '../../errors.js'
import type { MethodRegistry } from '../../control/registry.js'
import { pushStream } from '../../control/stream.js'
import { messaging as api } from '../../control/catalogue/index.js'
import type { NodeModule, ModuleFactory } from '../module.js'
import { advertStoreStatsOf } from '../../messaging/advert-store.js'
import { createMessaging, type Messaging } from '../../messaging/index.js'
import type { Bid } from '../../messaging/jobs.js'
import type { MessagingConfig, ReceivedMessage } from '../../messaging/types.js'

/** Built-in request type answered by every daemon with the request's own payload. */
export const ECHO_TYPE = 'dmsnet.echo'

type Encoding = 'utf8' | 'base64'
type JobServeEvent = { event: 'bid', requestId: string, orchestrator: string, price: number, at: number } |
  { event: 'sent', requestId: string, orchestrator: string, attempts: number, ms: number } |
  { event: 'failed', requestId: string, orchestrator: string, attempts: number, ms: number, error: string }

function toBytes (payload: string, enc: Encoding): Uint8Array {
  return enc === 'base64' ? new Uint8Array(Buffer.from(payload, 'base64')) : new TextEncoder().encode(payload)
}

function fromBytes (b: Uint8Array, enc: Encoding): string {
  return enc === 'base64' ? Buffer.from(b).toString('base64') : new TextDecoder().decode(b)
}

function view (m: ReceivedMessage, enc: Encoding): { from: string, type: string, topic?: string, replyTo?: string, payload: string, bytes: number, at: number } {
  return { from: m.from, type: m.type, topic: m.topic, replyTo: m.replyTo, payload: fromBytes(m.payload, enc), bytes: m.payload.byteLength, at: Date.now() }
}

export function registerMessagingControl (registry: MethodRegistry, messaging: Messaging): Array<() => void> {
  return [
    registry.implement(api.send, async (p, { signal }) => {
      const t0 = performance.now()
      await messaging.sendMessage(p.peer, p.type, toBytes(p.payload, p.encoding), { signal, ...(p.timeoutMs != null ? { timeoutMs: p.timeoutMs } : {}) })
      return { peer: p.peer, type: p.type, acked: true as const, ms: performance.now() - t0 }
    }),
    registry.implement(api.request, async (p, { signal }) => {
      const t0 = performance.now()
      const r = await messaging.request(p.peer, p.type, toBytes(p.payload, p.encoding), { signal, ...(p.timeoutMs != null ? { timeoutMs: p.timeoutMs } : {}) })
      return { peer: p.peer, type: p.type, response: fromBytes(r, p.encoding), bytes: r.byteLength, ms: performance.now() - t0 }
    }),
    registry.implement(api.publish, async (p, { signal }) => {
      const at = Date.now()
      return { ...await messaging.publish(p.topic, p.type, toBytes(p.payload, p.encoding), { signal }), at }
    }),
    registry.implement(api.topic, (p) => {
      const topic = p.topic ?? messaging.config.jobsTopic
      return { topic, subscribers: messaging.pubsub.peersOf(topic).length, subscribed: messaging.pubsub.subscriptions().includes(topic) }
    }),
    registry.implement(api.subscribe, (p, { signal }) => pushStream<ReturnType<typeof view>>(signal, (push) => {
      const sub = messaging.subscribe(p.topic, (m) => { push(view(m, p.encoding)) })
      return () => { sub.unsubscribe() }
    })),
    registry.implement(api.inbox, (p, { signal }) => pushStream<ReturnType<typeof view>>(signal, (push) => {
      messaging.registerHandler(p.type, (m) => { push(view(m, p.encoding)) })
      return () => { messaging.unregisterHandler(p.type) }
    })),
    registry.implement(api.stats, () => messaging.stats()),
    registry.implement(api.advertise, async (p, { signal }) => {
      await messaging.advertise(p.key, toBytes(p.data, p.encoding), { signal })
      return { key: p.key }
    }),
    registry.implement(api.query, async (p, { signal }) => (await messaging.query(p.key, { signal })).map(a => ({ peer: a.peer, data: fromBytes(a.data, p.encoding), seq: a.seq, expiresAt: a.expiresAt }))),
    registry.implement(api.jobPublish, async function * (p, { signal }) {
      const t0 = Date.now()
      const job = messaging.publishJob({
        kind: p.kind,
        resources: p.resources,
        ...(p.maxPrice != null ? { maxPrice: p.maxPrice } : {})
      }, { deadlineMs: p.deadlineMs, signal, ...(p.maxBids != null ? { maxBids: p.maxBids } : {}) })
      let n = 0
      for await (const bid of job) {
        n++
        yield { event: 'bid' as const, requestId: job.requestId, n, elapsedMs: Date.now() - t0, bid }
      }
      const all: Bid[] = await job.bids
      yield { event: 'done' as const, requestId: job.requestId, bids: all.length, elapsedMs: Date.now() - t0 }
    }),
    registry.implement(api.jobServe, (p, { signal }) => pushStream<JobServeEvent>(signal, (push) => {
      const server = messaging.serveBids((req) => {
        if (p.maxCpuCores != null && (req.resources.cpuCores ?? 0) > p.maxCpuCores) return null
        if (req.maxPrice != null && req.maxPrice < p.price) return null
        push({ event: 'bid', requestId: req.id, orchestrator: req.orchestrator, price: p.price, at: Date.now() })
        return { price: p.price }
      }, {
        onResult: (r) => {
          const base = { requestId: r.requestId, orchestrator: r.orchestrator, attempts: r.attempts, ms: r.ms }
          push(r.sent ? { event: 'sent', ...base } : { event: 'failed', ...base, error: `${r.error.name}: ${r.error.message}` })
        }
      })
      return () => { server.stop() }
    }))
  ]
}

export const messagingModule: ModuleFactory = async (components) => {
  const { config, network } = components
  const identity = { privateKey: components.privateKey }
  if (!peerIdFromPrivateKey(identity.privateKey).equals(network.peerId)) {
    // envelopes signed with another key would be refused by every peer as `wrong-sender`
    throw new InvalidArgumentError(`the identity file ${config.network.identityFile} does not hold the running node's key`)
  }
  const messaging = createMessaging({
    network,
    privateKey: identity.privateKey,
    config: config.messaging as Partial<MessagingConfig>,
    logger: components.logger('messaging'),
    metrics: components.metrics
  })
  // resource bounds against hostile peers (docs/messaging.md); the DHT figures are the current host's
  const gauges: Array<[string, string, () => number]> = [
    ['dmsnet_messages_inflight_bytes', 'bytes of inbound direct messages being verified or handled', () => messaging.stats().inboundInFlightBytes],
    ['dmsnet_messages_buffered_bytes', 'bytes of inbound direct-message frames received in part (each bounded in size and time)', () => messaging.stats().inboundBufferedBytes],
    ['dmsnet_replay_cache_entries', 'nonces remembered by the replay cache', () => messaging.stats().replayCache.entries],
    ['dmsnet_replay_cache_quota_refusals', 'messages refused because their forwarder was over its replay-cache quota', () => messaging.stats().replayCache.quotaRefusals],
    ['dmsnet_dht_advert_records', 'advert records stored by this host\'s DHT', () => advertStoreStatsOf(network.started ? network.host : undefined)?.records ?? 0],
    ['dmsnet_dht_advert_quota_refusals', 'advert records not stored because their signer (or the store) was over quota, on the current host', () => advertStoreStatsOf(network.started ? network.host : undefined)?.quotaRefusals ?? 0]
  ]
  for (const [name, help, read] of gauges) new Gauge({ name, help, registers: [components.metrics], collect () { this.set(read()) } })
  let unregister: Array<() => void> = []
  const mod: NodeModule & { messaging: Messaging } = {
    name: 'messaging',
    messaging,
    start: async () => {
      await messaging.start()
      messaging.registerHandler(ECHO_TYPE, (m) => m.payload)
    },
    stop: async () => {
      for (const u of unregister) u()
      unregister = []
      await messaging.stop()
    },
    registerControl: (registry) => { unregister = registerMessagingControl(registry, messaging) },
    status: () => {
      const s = messaging.stats()
      return { protocol: messaging.config.protocol, sent: s.sent, acked: s.acked, received: s.received, dropped: s.dropped, subscriptions: messaging.pubsub.subscriptions(), advertised: messaging.adverts.advertised() }
    }
  }
  return mod
}

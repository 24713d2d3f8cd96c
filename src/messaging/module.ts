/**
 * The messaging module for the daemon: builds `Messaging` on the node's network and identity,
 * and exposes it to the CLI through control methods (`messaging.*`, see docs/messaging.md).
 *
 * Payloads cross the control API as text (`encoding: 'utf8'`, default) or base64.
 */
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Gauge } from 'prom-client'
import { z } from 'zod'
import { InvalidArgumentError } from '../errors.js'
import type { MethodRegistry } from '../control/registry.js'
import { pushStream } from '../control/stream.js'
import type { NodeModule, ModuleFactory } from '../daemon/module.js'
import { loadOrCreateIdentity } from '../network/identity.js'
import { advertStoreStatsOf } from './advert-store.js'
import { createMessaging, type Messaging } from './index.js'
import type { Bid } from './jobs.js'
import type { MessagingConfig, ReceivedMessage } from './types.js'

/** Built-in request type answered by every daemon with the request's own payload. */
export const ECHO_TYPE = 'dmsnet.echo'

const encoding = z.enum(['utf8', 'base64']).default('utf8')
const timeoutMs = z.number().int().positive().max(600_000).optional()

function toBytes (payload: string, enc: 'utf8' | 'base64'): Uint8Array {
  return enc === 'base64' ? new Uint8Array(Buffer.from(payload, 'base64')) : new TextEncoder().encode(payload)
}

function fromBytes (b: Uint8Array, enc: 'utf8' | 'base64'): string {
  return enc === 'base64' ? Buffer.from(b).toString('base64') : new TextDecoder().decode(b)
}

function view (m: ReceivedMessage, enc: 'utf8' | 'base64'): Record<string, unknown> {
  return { from: m.from, type: m.type, topic: m.topic, replyTo: m.replyTo, payload: fromBytes(m.payload, enc), bytes: m.payload.byteLength, at: Date.now() }
}

export function registerMessagingControl (registry: MethodRegistry, messaging: Messaging): Array<() => void> {
  const off: Array<() => void> = []
  off.push(registry.register('messaging.send', {
    description: 'send a direct message and wait for its acknowledgement',
    params: z.object({ peer: z.string().min(1), type: z.string().min(1), payload: z.string().default(''), encoding, timeoutMs }),
    handler: async (p, { signal }) => {
      const t0 = performance.now()
      await messaging.sendMessage(p.peer, p.type, toBytes(p.payload, p.encoding), { signal, ...(p.timeoutMs != null ? { timeoutMs: p.timeoutMs } : {}) })
      return { peer: p.peer, type: p.type, acked: true, ms: performance.now() - t0 }
    }
  }))
  off.push(registry.register('messaging.request', {
    description: 'send a request and return the remote handler\'s response',
    params: z.object({ peer: z.string().min(1), type: z.string().min(1), payload: z.string().default(''), encoding, timeoutMs }),
    handler: async (p, { signal }) => {
      const t0 = performance.now()
      const r = await messaging.request(p.peer, p.type, toBytes(p.payload, p.encoding), { signal, ...(p.timeoutMs != null ? { timeoutMs: p.timeoutMs } : {}) })
      return { peer: p.peer, type: p.type, response: fromBytes(r, p.encoding), bytes: r.byteLength, ms: performance.now() - t0 }
    }
  }))
  off.push(registry.register('messaging.publish', {
    description: 'publish a signed message on a gossip topic',
    params: z.object({ topic: z.string().min(1), type: z.string().min(1).default('message'), payload: z.string().default(''), encoding }),
    handler: async (p, { signal }) => messaging.publish(p.topic, p.type, toBytes(p.payload, p.encoding), { signal })
  }))
  off.push(registry.registerStream('messaging.subscribe', {
    description: 'subscribe to a gossip topic; one line per verified message',
    params: z.object({ topic: z.string().min(1), encoding }),
    handler: (p, { signal }) => pushStream<Record<string, unknown>>(signal, (push) => {
      const sub = messaging.subscribe(p.topic, (m) => { push(view(m, p.encoding)) })
      return () => { sub.unsubscribe() }
    })
  }))
  off.push(registry.registerStream('messaging.inbox', {
    description: 'handle a direct message type while the caller listens; one line per message (acknowledged)',
    params: z.object({ type: z.string().min(1), encoding }),
    handler: (p, { signal }) => pushStream<Record<string, unknown>>(signal, (push) => {
      messaging.registerHandler(p.type, (m) => { push(view(m, p.encoding)) })
      return () => { messaging.unregisterHandler(p.type) }
    })
  }))
  off.push(registry.register('messaging.stats', {
    description: 'messaging counters (sent, acked, dropped by reason, streams)',
    handler: () => messaging.stats()
  }))
  off.push(registry.register('messaging.advertise', {
    description: 'advertise data under a key in the DHT (signed, re-advertised)',
    params: z.object({ key: z.string().min(1), data: z.string().default(''), encoding }),
    handler: async (p, { signal }) => {
      await messaging.advertise(p.key, toBytes(p.data, p.encoding), { signal })
      return { key: p.key }
    }
  }))
  off.push(registry.register('messaging.query', {
    description: 'every valid advertisement for a key',
    params: z.object({ key: z.string().min(1), encoding }),
    handler: async (p, { signal }) => (await messaging.query(p.key, { signal })).map(a => ({ peer: a.peer, data: fromBytes(a.data, p.encoding), seq: a.seq, expiresAt: a.expiresAt }))
  }))
  off.push(registry.registerStream('messaging.job.publish', {
    description: 'broadcast a bid request; one line per bid as it arrives, then a summary line',
    params: z.object({
      kind: z.string().min(1).default('generic'),
      resources: z.object({ cpuCores: z.number().nonnegative().optional(), memoryMiB: z.number().nonnegative().optional(), diskGiB: z.number().nonnegative().optional(), gpus: z.number().nonnegative().optional() }).default({}),
      maxPrice: z.number().optional(),
      deadlineMs: z.number().int().positive().max(600_000).default(5000),
      maxBids: z.number().int().positive().optional()
    }),
    handler: async function * (p, { signal }) {
      const t0 = Date.now()
      const job = messaging.publishJob({
        kind: p.kind,
        resources: p.resources,
        ...(p.maxPrice != null ? { maxPrice: p.maxPrice } : {})
      }, { deadlineMs: p.deadlineMs, signal, ...(p.maxBids != null ? { maxBids: p.maxBids } : {}) })
      let n = 0
      for await (const bid of job) {
        n++
        yield { event: 'bid', requestId: job.requestId, n, elapsedMs: Date.now() - t0, bid }
      }
      const all: Bid[] = await job.bids
      yield { event: 'done', requestId: job.requestId, bids: all.length, elapsedMs: Date.now() - t0 }
    }
  }))
  off.push(registry.registerStream('messaging.job.serve', {
    description: 'bid on bid requests at a fixed price while the caller listens; one line per bid sent',
    params: z.object({ price: z.number().nonnegative(), maxCpuCores: z.number().nonnegative().optional() }),
    handler: (p, { signal }) => pushStream<Record<string, unknown>>(signal, (push) => {
      const server = messaging.serveBids((req) => {
        if (p.maxCpuCores != null && (req.resources.cpuCores ?? 0) > p.maxCpuCores) return null
        if (req.maxPrice != null && req.maxPrice < p.price) return null
        push({ event: 'bid', requestId: req.id, orchestrator: req.orchestrator, price: p.price, at: Date.now() })
        return { price: p.price }
      })
      return () => { server.stop() }
    })
  }))
  return off
}

export const messagingModule: ModuleFactory = async (components) => {
  const { config, network } = components
  // the daemon loaded this same file for the network; the key never leaves the process
  const identity = await loadOrCreateIdentity(config.network.identityFile)
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

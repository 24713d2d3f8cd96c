/**
 * The daemon's own control methods (`node.*`, `control.methods`): what `dmsnet id`, `status`,
 * `peers`, `ping`, `connect`, `events` and `stop` call. Handlers: src/daemon/control-methods.ts
 * and src/daemon/dht-control.ts.
 */
import { z } from 'zod'
import { DialError, PeerNotFoundError, TimeoutError } from '../../errors.js'
import { lazy, stream, unary } from '../spec.js'

const peerConnection = lazy(() => z.object({
  peerId: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  remoteAddr: z.string(),
  transport: z.string(),
  limited: z.boolean(),
  latencyMs: z.number().optional(),
  openedAt: z.number()
}))

export const methods = unary('control.methods', {
  description: 'list the control methods this daemon offers',
  result: () => z.array(z.object({ name: z.string(), kind: z.enum(['unary', 'stream']), description: z.string() }))
})

export const id = unary('node.id', {
  description: 'peer id and addresses',
  result: () => z.object({ peerId: z.string(), listenAddrs: z.array(z.string()), addresses: z.array(z.string()) })
})

const natType = lazy(() => z.enum(['unknown', 'endpoint-independent', 'endpoint-dependent']))

/** `node.status`: the network's status (src/network/types.ts NetworkStatus) plus the daemon's own figures. */
const nodeStatus = lazy(() => z.object({
  peerId: z.string(),
  profile: z.string(),
  started: z.boolean(),
  listenAddrs: z.array(z.string()),
  announceAddrs: z.array(z.string()),
  reachability: z.enum(['unknown', 'public', 'private']),
  natType: z.object({ tcp: natType(), udp: natType() }),
  connections: z.array(peerConnection()),
  denied: z.object({ dial: z.number().int(), inbound: z.number().int(), outbound: z.number().int() }).optional(),
  version: z.string(),
  dataDir: z.string(),
  uptimeMs: z.number(),
  metricsUrl: z.string().nullable(),
  modules: z.record(z.string(), z.unknown()).meta({ description: 'each module\'s status() summary, by module name' })
}))
export type NodeStatus = z.output<ReturnType<typeof nodeStatus>>

export const status = unary('node.status', {
  description: 'network status, uptime and module summaries',
  result: () => nodeStatus()
})

export const peers = unary('node.peers', {
  description: 'open connections',
  result: () => z.array(peerConnection())
})

export const connect = unary('node.connect', {
  description: 'dial a multiaddr or a peer id',
  params: () => z.object({ target: z.string().min(1) }),
  result: () => z.object({ peerId: z.string(), remoteAddr: z.string() }),
  errors: [DialError, PeerNotFoundError]
})

export const disconnect = unary('node.disconnect', {
  description: 'close every connection to a peer',
  params: () => z.object({ peer: z.string().min(1) }),
  result: () => z.object({})
})

export const ping = unary('node.ping', {
  description: 'libp2p ping round trips to a peer',
  params: () => z.object({ peer: z.string().min(1), count: z.number().int().min(1).max(100).default(1), intervalMs: z.number().int().min(0).max(10_000).default(200) }),
  result: () => z.object({ peerId: z.string(), rtts: z.array(z.number()) }),
  errors: [DialError, PeerNotFoundError, TimeoutError]
})

/** One item of `node.events`. */
const nodeEvent = lazy(() => z.object({
  type: z.string().meta({ description: 'a network event name (src/network/types.ts NetworkEvents: peer:connectedness, peer:identified, local-addresses:updated, reachability:changed, nat:type-changed, host:changed), or events:attached' }),
  at: z.number(),
  detail: z.unknown().meta({ description: 'the event\'s own payload; {peerId} for events:attached, {profile} for host:changed' })
}))
export type NodeEvent = z.output<ReturnType<typeof nodeEvent>>

export const events = stream('node.events', {
  description: 'network events as they happen (peer connected, identified, addresses, ...); the first item, events:attached, says the listeners are in place',
  result: () => nodeEvent()
})

export const shutdown = unary('node.shutdown', {
  description: 'stop the daemon gracefully',
  result: () => z.object({})
})

export const dhtStatus = unary('node.dht.status', {
  description: 'DHT mode, routing table size, and how network lookups went (src/network/dht-direct.ts)',
  result: () => z.object({
    mode: z.enum(['client', 'server']),
    routingTableSize: z.number().int(),
    lookups: z.record(z.string(), z.number().int()).optional().meta({ description: 'counters of network peer lookups: asked the target first (direct, answered, dialled), connected neighbours first (neighbours, neighbourAnswered), kad-dht\'s full lookup beside them (fellBack, fellBackEarly) or alone (full)' })
  })
})

export const dhtFindPeer = unary('node.dht.find-peer', {
  description: 'look a peer up in the DHT (network query, not the peer store): found, addresses, time, peers asked',
  params: () => z.object({
    peer: z.string().min(1),
    timeoutMs: z.number().int().positive().max(120_000).default(30_000),
    via: z.enum(['auto', 'target', 'kad']).optional().meta({ description: 'how the lookup starts (default: the daemon\'s, DMSNET_DHT_DIRECT): connected target or neighbours first; the held target first, dialled; kad-dht alone' })
  }),
  result: () => z.object({
    found: z.boolean(),
    ms: z.number(),
    asked: z.number().int(),
    addresses: z.array(z.string()).optional(),
    error: z.string().optional(),
    // where the time of one lookup went (the scale bench's DHT breakdown): the first query sent,
    // the first answer, queries sent and failed before the end
    firstQueryMs: z.number().optional(),
    firstResponseMs: z.number().optional(),
    queries: z.number().int().optional(),
    queryErrors: z.number().int().optional()
  })
})

/**
 * The daemon's own control methods (`node.*`, `control.methods`): what `dmsnet id`, `status`,
 * `peers`, `ping`, `connect` and `events` call, declared in src/control/catalogue/node.ts. Feature
 * plug-ins (features/) add theirs.
 */
import { pushStream } from '../control/stream.js'
import type { MethodRegistry } from '../control/registry.js'
import { node as api, type NodeEvent } from '../control/catalogue/index.js'
import type { Network, NetworkEventName } from '../network/types.js'
import type { NodeModule } from './module.js'
import { withTimeout } from '../util/signal.js'

export interface NodeControlDeps {
  network: Network
  dataDir: string
  version: string
  startedAt: number
  modules: () => NodeModule[]
  metricsUrl: () => string | undefined
  /** Starts the daemon's graceful shutdown (returns at once). */
  shutdown: () => void
}

const EVENTS: NetworkEventName[] = ['peer:connectedness', 'peer:identified', 'local-addresses:updated', 'reachability:changed', 'nat:type-changed', 'host:changed']

export function registerNodeControl (registry: MethodRegistry, deps: NodeControlDeps): void {
  const { network } = deps

  registry.implement(api.methods, () => registry.list())

  registry.implement(api.id, async (_p, { signal }) => {
    const s = await network.status({ signal })
    return { peerId: s.peerId, listenAddrs: s.listenAddrs, addresses: s.announceAddrs }
  })

  registry.implement(api.status, async (_p, { signal }) => {
    const s = await network.status({ signal })
    const modules: Record<string, unknown> = {}
    for (const m of deps.modules()) modules[m.name] = m.status?.() ?? { running: true }
    return {
      ...s,
      version: deps.version,
      dataDir: deps.dataDir,
      uptimeMs: Date.now() - deps.startedAt,
      metricsUrl: deps.metricsUrl() ?? null,
      modules
    }
  })

  registry.implement(api.peers, async (_p, { signal }) => (await network.status({ signal })).connections)

  registry.implement(api.connect, async ({ target }, { signal }) => {
    const conn = await network.dial(target, { signal: withTimeout(signal, 30_000) })
    return { peerId: conn.remotePeer.toString(), remoteAddr: conn.remoteAddr.toString() }
  })

  registry.implement(api.disconnect, async ({ peer }, { signal }) => {
    await network.hangUp(peer, { signal })
    return {}
  })

  registry.implement(api.ping, async ({ peer, count, intervalMs }, { signal }) => {
    const rtts: number[] = []
    let peerId = peer
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise(resolve => setTimeout(resolve, intervalMs))
      signal.throwIfAborted()
      rtts.push(await network.ping(peer, { signal: withTimeout(signal, 15_000) }))
    }
    if (peer.startsWith('/')) peerId = /\/p2p\/([^/]+)/.exec(peer)?.[1] ?? peer
    return { peerId, rtts }
  })

  registry.implement(api.events, (_p, { signal }) => pushStream<NodeEvent>(signal, push => {
    const offs = EVENTS.map(type => network.eventRegister(type, (detail: unknown) => {
      push({ type, at: Date.now(), detail: type === 'host:changed' ? { profile: (detail as { profile: { name: string } }).profile.name } : detail })
    }))
    // first item: the listeners are in place, so a client (or a script) knows from here on that
    // no event is missed, instead of guessing how long attaching takes
    push({ type: 'events:attached', at: Date.now(), detail: { peerId: network.peerId.toString() } })
    return () => { for (const off of offs) off() }
  }))

  registry.implement(api.shutdown, () => {
    // reply first, then stop: the stop closes this very connection
    setImmediate(deps.shutdown)
    return {}
  })
}

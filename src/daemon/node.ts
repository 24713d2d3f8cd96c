/**
 * `createNode(config)`: wires one dmsnet node together, in this order -
 *   data dir -> identity -> metrics registry -> Network (libp2p) -> feature modules (modules.ts)
 *   -> control methods -> control server (unix socket) -> optional /metrics endpoint.
 * `stop()` undoes it in reverse order and is the one shutdown path (signals, `node.shutdown`,
 * a failed start).
 */
import { mkdir, chmod } from 'node:fs/promises'
import { assertPrivateDir } from '../safe-file.js'
import type { AbortOptions } from '@libp2p/interface'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Config } from '../config/schema.js'
import { assertNoDaemon, assertSocketPath, createControlServer, type ControlServer } from '../control/server.js'
import { createMethodRegistry, type MethodRegistry } from '../control/registry.js'
import { pushStreamStats } from '../control/stream.js'
import { AlreadyStartedError, NotStartedError } from '../errors.js'
import { createLoggerFactory, setLogLevel, type Logger } from '../logging.js'
import { hostMetrics } from '../network/host-metrics.js'
import { assertLoopbackHost, createMetricsRegistry, startMetricsServer, type MetricsServer } from '../metrics.js'
import { createNetwork } from '../network/index.js'
import { loadOrCreateIdentity } from '../network/identity.js'
import type { Network } from '../network/types.js'
import { registerNodeControl } from './control-methods.js'
import { registerDhtControl } from './dht-control.js'
import type { ModuleFactory, NodeComponents, NodeModule } from './module.js'
import { defaultModules } from './modules.js'
import { memoryModule } from './memory-module.js'
import { swarmModule } from './features/swarm.js'
import { staticSwarmModule } from './features/swarm-static.js'
import { loadStaticSwarm } from '../swarm/static.js'
import { version } from './version.js'
import { advertDhtRecords } from '../messaging/dht-records.js'

export interface CreateNodeOptions {
  /** Feature modules to run; default `defaultModules` (src/daemon/modules.ts). */
  modules?: ModuleFactory[]
  /** Serve the control API on `config.control.socket`. Default true. */
  control?: boolean
  /** Name added to every log line and metric (`node` label); useful with several nodes per process. */
  name?: string
  /**
   * Set the process-wide log level from `config.logging.level`. Default true; the demo (many nodes
   * in one process) turns it off and sets the level itself.
   */
  setProcessLogLevel?: boolean
  /**
   * Run the idle memory reclaim (memory-module.ts; `memory.reclaim.*`): it collects and trims the
   * whole process, so only a node that has the process to itself (`dmsnet up`). Default false.
   */
  reclaimMemory?: boolean
}

export interface DmsnetNode {
  readonly config: Config
  /** Available after `start()`. */
  readonly peerId: string
  readonly network: Network
  readonly registry: MethodRegistry
  readonly metrics: Registry
  /** e.g. http://127.0.0.1:9464/metrics, when `config.metrics.enabled`. */
  readonly metricsUrl: string | undefined
  readonly logger: Logger
  readonly started: boolean
  /** Resolves once the node has fully stopped (whoever asked for it). */
  readonly stopped: Promise<void>
  module<T extends NodeModule = NodeModule>(name: string): T | undefined
  start (options?: AbortOptions): Promise<void>
  stop (options?: AbortOptions): Promise<void>
}

export function createNode (config: Config, options: CreateNodeOptions = {}): DmsnetNode {
  const factories = [...(options.modules ?? defaultModules), ...(options.reclaimMemory === true ? [memoryModule] : [])]
  // with several nodes in one process (demo, tests) each keeps its own level instead of the process's
  const makeLogger = createLoggerFactory({ prefix: options.name, level: options.setProcessLogLevel === false ? config.logging.level : undefined })
  const logger = makeLogger('daemon')
  const registry = createMethodRegistry()
  const metrics = createMetricsRegistry(options.name != null ? { labels: { node: options.name } } : {})
  const modules: NodeModule[] = []
  const undo: Array<{ what: string, fn: () => Promise<void> }> = []
  let network: Network | undefined
  let control: ControlServer | undefined
  let metricsServer: MetricsServer | undefined
  let peerId = ''
  let state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new'
  let stopping: Promise<void> | undefined
  let resolveStopped!: () => void
  const stopped = new Promise<void>(resolve => { resolveStopped = resolve })

  async function doStart (signal?: AbortSignal): Promise<void> {
    if (options.setProcessLogLevel !== false) setLogLevel(config.logging.level)
    const startedAt = Date.now()
    if (config.metrics.enabled) assertLoopbackHost(config.metrics.host) // before anything is created
    // one daemon per data dir: find out before touching the network or the identity
    if (options.control !== false) {
      assertSocketPath(config.control.socket)
      await assertNoDaemon(config.control.socket)
    }
    // a static private network (swarm.keyFile, swarm.force) is checked before anything is created on disk
    const pnet = loadStaticSwarm(config)
    // a data dir we create is 0700; an existing one is left as the operator made it (never chmod /tmp)
    if (await mkdir(config.dataDir, { recursive: true, mode: 0o700 }) != null) await chmod(config.dataDir, 0o700)
    await assertPrivateDir(config.dataDir) // vpnsec: another user able to write here could swap our identity or state

    const identity = await loadOrCreateIdentity(config.network.identityFile, { warn: msg => { logger.warn(msg) } })
    peerId = identity.peerId
    logger.info({ peerId, created: identity.created, dataDir: config.dataDir }, identity.created ? 'created a new identity' : 'loaded identity')

    const net = await createNetwork({
      privateKey: identity.privateKey,
      config,
      logger: makeLogger('network'),
      // record types of the capabilities: the network validates what it is told to
      dht: advertDhtRecords(),
      ...(pnet != null ? { profile: pnet.profile } : {}),
      // libp2p's metrics in our registry, following the current host across host switches
      // (network/host-metrics.ts); process metrics are already collected by createMetricsRegistry
      libp2p: { metrics: hostMetrics({ registry: metrics }) }
    })
    network = net
    await net.start({ signal })
    undo.push({ what: 'network', fn: async () => { await net.stop() } })
    logger.info({ listen: net.getMultiaddrs().map(String) }, 'network started')
    if (pnet != null) logger.info({ keyFile: pnet.keyFile, fingerprint: pnet.fingerprint, allow: pnet.allow.length }, 'in a static private network')
    if (pnet != null && (parseInt(pnet.keyFileMode, 8) & 0o077) !== 0) logger.warn({ keyFile: pnet.keyFile, mode: pnet.keyFileMode }, 'the swarm key file is readable by other users: chmod 600 it')

    new Gauge({
      name: 'dmsnet_peers_connected',
      help: 'peers with at least one open connection',
      registers: [metrics],
      collect () { this.set(net.started ? net.peers().length : 0) }
    })

    const components: NodeComponents = {
      config,
      network: net,
      privateKey: identity.privateKey,
      metrics,
      logger: makeLogger,
      getModule: <T extends NodeModule>(name: string) => modules.find(m => m.name === name) as T | undefined
    }
    for (const factory of factories) {
      signal?.throwIfAborted()
      // with a static key the managed swarm is replaced (the two are mutually exclusive)
      const mod = await (pnet != null && factory === swarmModule ? staticSwarmModule(pnet) : factory)(components)
      if (mod == null) continue
      if (modules.some(m => m.name === mod.name)) throw new AlreadyStartedError(`two modules named "${mod.name}"`)
      await mod.start?.({ signal })
      modules.push(mod)
      undo.push({ what: `module ${mod.name}`, fn: async () => { await mod.stop?.() } })
      logger.info({ module: mod.name }, 'module started')
    }

    registerNodeControl(registry, {
      network: net,
      dataDir: config.dataDir,
      version: version(),
      startedAt,
      modules: () => [...modules],
      metricsUrl: () => metricsServer?.url,
      shutdown: () => { void node.stop() }
    })
    registerDhtControl(registry, net)
    for (const mod of modules) mod.registerControl?.(registry)

    if (options.control !== false) {
      const calls = new Counter({ name: 'dmsnet_control_calls_total', help: 'control API calls by method and outcome (ok or error name)', labelNames: ['method', 'outcome'], registers: [metrics] })
      // streaming methods' bounded buffers (control/stream.ts): items waiting, items dropped for a slow reader
      new Gauge({ name: 'dmsnet_control_stream_items', help: 'items of streaming control calls (subscribe, events...) waiting for a slow reader, and dropped because it fell too far behind', labelNames: ['state'], registers: [metrics], collect () { this.set({ state: 'buffered' }, pushStreamStats.buffered); this.set({ state: 'dropped' }, pushStreamStats.dropped) } })
      const srv = createControlServer({
        socket: config.control.socket,
        registry,
        logger: makeLogger('control'),
        onCall: (method, outcome) => { calls.inc({ method, outcome }) }
      })
      await srv.start()
      control = srv
      undo.push({ what: 'control', fn: async () => { await srv.stop() } })
    }

    if (config.metrics.enabled) {
      const ms = await startMetricsServer({ registry: metrics, host: config.metrics.host, port: config.metrics.port })
      metricsServer = ms
      undo.push({ what: 'metrics', fn: async () => { await ms.stop() } })
      logger.info({ url: ms.url }, 'metrics endpoint listening')
    }
  }

  async function doStop (): Promise<void> {
    while (undo.length > 0) {
      const step = undo.pop()!
      try {
        await step.fn()
      } catch (err) {
        // keep going: one stuck part must not leave the others (and the socket) behind
        logger.warn({ err, step: step.what }, 'error while stopping')
      }
    }
    metrics.clear()
  }

  const node: DmsnetNode = {
    config,
    get peerId () { return peerId },
    get network () {
      if (network == null) throw new NotStartedError('node not started')
      return network
    },
    registry,
    metrics,
    get metricsUrl () { return metricsServer?.url },
    logger,
    get started () { return state === 'started' },
    stopped,
    module: <T extends NodeModule>(name: string) => modules.find(m => m.name === name) as T | undefined,
    async start (opts?: AbortOptions) {
      if (state !== 'new') throw new AlreadyStartedError(`node is ${state}; create a new one to start again`)
      state = 'starting'
      try {
        await doStart(opts?.signal)
        state = 'started'
        logger.info({ peerId, socket: control?.socket }, 'node ready')
      } catch (err) {
        logger.debug({ err }, 'start failed; undoing')
        state = 'stopping'
        await doStop()
        state = 'stopped'
        resolveStopped()
        throw err
      }
    },
    async stop () {
      if (state === 'new') { state = 'stopped'; resolveStopped(); return }
      if (stopping != null) return await stopping
      stopping = (async () => {
        while (state === 'starting') await new Promise(resolve => setTimeout(resolve, 20))
        if (state !== 'started') { await stopped; return }
        state = 'stopping'
        logger.info('stopping')
        await doStop()
        state = 'stopped'
        logger.info('stopped')
        resolveStopped()
      })()
      return await stopping
    }
  }
  return node
}

/**
 * Prometheus metrics shared by every module: one prom-client Registry per node (never the global
 * one, so several nodes in one process - tests, the demo - do not collide), and the /metrics HTTP
 * endpoint, which only ever binds a loopback address.
 *
 * Modules add their own metrics to `registry` (names prefixed `dmsnet_<area>_`). libp2p's own
 * metrics go into the same registry through `hostMetrics({ registry })` (network/host-metrics.ts),
 * which follows the current libp2p host across host switches; process metrics are collected here.
 */
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { isIP } from 'node:net'
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks'
import { Registry, collectDefaultMetrics } from 'prom-client'
import type { AbortOptions } from '@libp2p/interface'
import { ConfigError } from './errors.js'

export { Registry }

export interface MetricsRegistryOptions {
  /** Collect Node process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean
  /** Labels added to every metric, e.g. `{ node: 'n1' }` when several nodes share a scrape. */
  labels?: Record<string, string>
}

/** Resolution of the event-loop delay histogram (`nodejs_eventloop_lag_*`), ms. */
export const EVENT_LOOP_MONITORING_PRECISION_MS = 100

/**
 * Longest event-loop delay the lag histogram records (1 h, in ns), and its precision (2
 * significant digits: 1 %). Node's own `monitorEventLoopDelay` histogram spans any int64 at 3
 * digits: ~440 KB of counters, all made resident by the reset after every scrape; this one is
 * ~36 KB (issue 10).
 */
const LAG_HIGHEST_NS = 3_600e9
const LAG_FIGURES = 2

/** The part of Node's IntervalHistogram that prom-client's lag collector uses. */
type LoopDelayHistogram = RecordableHistogram & { enable: () => boolean, disable: () => boolean }

/**
 * Samples the event-loop delay like `monitorEventLoopDelay` (the time between the ticks of a
 * `resolutionMs` timer, which grows when the loop is late) into a small histogram.
 */
export function smallLoopDelayHistogram (resolutionMs: number): LoopDelayHistogram {
  const h = createHistogram({ lowest: 1, highest: LAG_HIGHEST_NS, figures: LAG_FIGURES })
  let timer: NodeJS.Timeout | undefined
  return Object.assign(h, {
    enable (): boolean {
      if (timer != null) return false
      h.recordDelta() // the first call only sets the start
      timer = setInterval(() => { h.recordDelta() }, resolutionMs)
      timer.unref()
      return true
    },
    disable (): boolean {
      if (timer == null) return false
      clearInterval(timer)
      timer = undefined
      return true
    }
  })
}

// the object prom-client's collectors get from require('perf_hooks') (the same for ESM and CJS)
const perfHooks = createRequire(import.meta.url)('node:perf_hooks') as { monitorEventLoopDelay: (o?: { resolution?: number }) => unknown }

export function createMetricsRegistry (options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry()
  if (options.labels != null) registry.setDefaultLabels(options.labels)
  if (options.defaultMetrics !== false) {
    // prom-client samples event-loop delay with a 10 ms libuv timer by default: 100 wake-ups a
    // second cost an idle daemon ~0.6% of a core on their own (issue 10). 100 ms keeps the lag
    // histogram useful at a tenth of the cost. Its lag collector builds its histogram with
    // perf_hooks.monitorEventLoopDelay, during this call only: it gets the small one instead
    // (same nodejs_eventloop_lag_* metrics; prom-client offers no other way to size it).
    const native = perfHooks.monitorEventLoopDelay
    const made: LoopDelayHistogram[] = []
    perfHooks.monitorEventLoopDelay = (o) => {
      const h = smallLoopDelayHistogram(o?.resolution ?? EVENT_LOOP_MONITORING_PRECISION_MS)
      made.push(h)
      return h
    }
    try {
      collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS })
    } finally {
      perfHooks.monitorEventLoopDelay = native
    }
    // a stopped node clears its registry: its sampling timer stops with it (several nodes in one
    // process, tests, the demo)
    const clear = registry.clear.bind(registry)
    registry.clear = () => {
      for (const h of made) h.disable()
      clear()
    }
  }
  return registry
}

export interface MetricsServerOptions {
  registry: Registry
  /** Must be a loopback address (127.0.0.0/8, ::1 or localhost). Default 127.0.0.1. */
  host?: string
  /** 0 = any free port. */
  port: number
}

export interface MetricsServer {
  /** e.g. http://127.0.0.1:9464/metrics */
  readonly url: string
  readonly port: number
  stop (options?: AbortOptions): Promise<void>
}

export function isLoopbackHost (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1'
  return false
}

/** Throws the ConfigError `metrics.host` gets when it is not a loopback address. */
export function assertLoopbackHost (host: string): void {
  if (!isLoopbackHost(host)) {
    // metrics reveal peer counts and traffic: never expose them beyond this machine
    throw new ConfigError(`invalid configuration:\nmetrics.host: got "${host}", expected a loopback address (127.0.0.1, ::1 or localhost)`, [{ key: 'metrics.host', value: host, expected: 'a loopback address (127.0.0.1, ::1 or localhost)' }])
  }
}

/** Serves `GET /metrics` in the Prometheus text format; anything else is a 404. */
export async function startMetricsServer (options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1'
  assertLoopbackHost(host)
  const { registry } = options
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n')
      return
    }
    registry.metrics().then(text => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(text)
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${err.message}\n`)
    })
  })
  server.listen(options.port, host)
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => { throw err as Error })
  ])
  const addr = server.address()
  const port = typeof addr === 'object' && addr != null ? addr.port : options.port
  const urlHost = isIP(host) === 6 ? `[${host}]` : host
  return {
    url: `http://${urlHost}:${port}/metrics`,
    port,
    async stop () {
      const closed = new Promise<void>(resolve => server.close(() => { resolve() }))
      server.closeAllConnections()
      await closed
    }
  }
}

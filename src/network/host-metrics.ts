/**
 * libp2p's `metrics` component for one node, in the node's own prom-client registry, that keeps
 * following the node's *current* libp2p host across host switches (a swarm join, a key rotation).
 *
 * Why not `@libp2p/prometheus-metrics` directly: it keeps every metric in a module-level map
 * shared by the whole process. With `preserveExistingMetrics` (needed, since a host switch
 * registers the same names again) the second host gets the first host's metric objects back, so
 * every *calculated* metric (`libp2p_data_transfer_bytes_total`, `dmsnet_yamux_window`, the
 * connection manager's gauges...) kept reading the first, stopped host: the figures froze after a
 * switch and the old host stayed in memory. A second node in the same process (tests, the demo)
 * got the first node's metrics and none in its own registry.
 *
 * Here one instance serves every host generation of one node (create it once, pass the same
 * factory in each host's options): a name is registered once in the node's registry; a calculated
 * metric reads whichever `calculate` the most recent host registered under that name; a plain
 * metric hands every host the same object, so its values carry on across the switch.
 */
import { Counter as PromCounter, Gauge, Histogram as PromHistogram, Summary as PromSummary, type Registry } from 'prom-client'
import type {
  CalculateMetric, Counter, CounterGroup, Histogram, HistogramGroup, HistogramOptions, Metric, MetricGroup, Metrics,
  MultiaddrConnection, Stream, StopTimer, Summary, SummaryGroup, SummaryOptions
} from '@libp2p/interface'

export interface HostMetricsInit {
  registry: Registry
}

type Values = Record<string, number>
type AnyOptions = HistogramOptions & SummaryOptions & { calculate?: CalculateMetric<number> | CalculateMetric<Values> }

/** See https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels */
function normalize (s: string): string {
  return s.replace(/[^a-zA-Z0-9_]/g, '_').replace(/_+/g, '_')
}

/** The byte counters: fed by this object's own stream tracking, for every host generation. */
const TRANSFER = 'libp2p_data_transfer_bytes_total'

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

function each (values: Partial<Record<string, number | true>>, fn: (key: string, v: number) => void): void {
  for (const [k, v] of Object.entries(values)) if (v != null) fn(k, typeof v === 'number' ? v : 1)
}

export type HostMetrics = Metrics

/**
 * Returns the `metrics` factory for libp2p's options. Every call of the factory (one per host
 * generation) returns the same `HostMetrics`.
 */
export function hostMetrics (init: HostMetricsInit): (components?: unknown) => HostMetrics {
  const { registry } = init
  const objects = new Map<string, unknown>()
  /** The current `calculate` of each calculated metric: the latest host's. */
  const calculators = new Map<string, CalculateMetric<number> | CalculateMetric<Values>>()
  /** Bytes moved since the last scrape, per `<protocol|global> <sent|received>` (a fixed, small key set). */
  const transfer = new Map<string, number>()

  const current = async (name: string): Promise<number | Values | undefined> => await calculators.get(name)?.()

  /** Registers `name` once; later calls only swap the calculator (or return the first object). */
  function register<T> (name: string, options: AnyOptions | undefined, make: (n: string, help: string, label: string | undefined, collect?: () => Promise<number | Values | undefined>) => T): T | undefined {
    const n = normalize(name)
    const calc = options?.calculate
    if (calc != null) {
      calculators.set(n, calc)
      if (!objects.has(n)) objects.set(n, make(n, normalize(options?.help ?? n), options?.label != null ? normalize(options.label) : undefined, async () => await current(n)))
      return undefined
    }
    let obj = objects.get(n) as T | undefined
    if (obj == null) {
      obj = make(n, normalize(options?.help ?? n), options?.label != null ? normalize(options.label) : undefined)
      objects.set(n, obj)
    }
    return obj
  }

  /** prom-client's `collect` option: hands the current calculator's value(s) to `apply` at scrape time. */
  function collectOption<M> (read: (() => Promise<number | Values | undefined>) | undefined, label: string | undefined, apply: (metric: M, v: number, labels?: Record<string, string>) => void, empty?: (metric: M) => void): { collect?: (this: M) => Promise<void> } {
    if (read == null) return {}
    return {
      async collect (this: M) {
        const v = await read()
        if (v == null) empty?.(this)
        else if (typeof v === 'number') apply(this, v)
        else if (v != null && label != null) for (const [k, x] of Object.entries(v)) apply(this, x, { [label]: k })
      }
    }
  }

  function gauge (name: string, help: string, labels: string[], collect?: () => Promise<number | Values | undefined>): Gauge {
    return new Gauge({ name, help, labelNames: labels, registers: [registry], ...collectOption<Gauge>(collect, labels[0], (g, v, l) => { if (l == null) g.set(v); else g.set(l, v) }, g => { g.reset() }) })
  }

  function counter (name: string, help: string, labels: string[], collect?: () => Promise<number | Values | undefined>): PromCounter {
    // a calculated counter reports increments since the last scrape (as upstream does)
    return new PromCounter({ name, help, labelNames: labels, registers: [registry], ...collectOption<PromCounter>(collect, labels[0], (c, v, l) => { if (l == null) c.inc(v); else c.inc(l, v) }) })
  }

  const observe = (m: PromHistogram | PromSummary, v: number, l?: Record<string, string>): void => { if (l == null) m.observe(v); else m.observe(l, v) }

  function track (stream: { dispatchEvent: (evt: Event) => boolean, send: (data: { byteLength: number }) => boolean }, name: string): void {
    // wrap rather than listen: an extra 'message' listener would make the stream dispatch data
    // before the protocol's reader is attached (the same reason upstream wraps)
    // keys built once per stream, not per chunk (this runs for every chunk of the data path)
    const rx = `${name} received`
    const tx = `${name} sent`
    const dispatch = stream.dispatchEvent.bind(stream)
    stream.dispatchEvent = (evt: Event) => {
      if (evt.type === 'message') add(rx, (evt as Event & { data: { byteLength: number } }).data.byteLength)
      return dispatch(evt)
    }
    const send = stream.send.bind(stream)
    stream.send = (data: { byteLength: number }) => {
      add(tx, data.byteLength)
      return send(data)
    }
  }

  function add (key: string, n: number): void {
    transfer.set(key, (transfer.get(key) ?? 0) + n)
  }

  const self: HostMetrics & { start: () => void, stop: () => void } = {
    start () {},
    // libp2p stops its components with the host: the stopped host's calculators go (a gauge shows
    // nothing until the next host registers its own), so no scrape reads a stopped host and no
    // metric keeps that host in memory
    stop () {
      for (const n of calculators.keys()) if (n !== TRANSFER) calculators.delete(n)
    },
    trackMultiaddrConnection (maConn: MultiaddrConnection) { track(maConn as never, 'global') },
    trackProtocolStream (stream: Stream) {
      if (stream.protocol != null) track(stream as never, stream.protocol)
    },
    registerMetric: ((name: string, options?: AnyOptions) => register<Metric>(name, options, (n, help, label, collect) => {
      const g = gauge(n, help, label != null ? [label] : [], collect)
      return { update: v => g.set(v), increment: (v = 1) => g.inc(v), decrement: (v = 1) => g.dec(v), reset: () => g.reset(), timer: (): StopTimer => g.startTimer() }
    })) as Metrics['registerMetric'],
    registerMetricGroup: ((name: string, options?: AnyOptions) => register<MetricGroup>(name, options, (n, help, label, collect) => {
      const l = label ?? n
      const g = gauge(n, help, [l], collect)
      return {
        update: values => { each(values, (k, v) => g.set({ [l]: k }, v)) },
        increment: values => { each(values, (k, v) => g.inc({ [l]: k }, v)) },
        decrement: values => { each(values, (k, v) => g.dec({ [l]: k }, v)) },
        reset: () => g.reset(),
        timer: (key): StopTimer => g.startTimer({ [l]: key })
      }
    })) as Metrics['registerMetricGroup'],
    registerCounter: ((name: string, options?: AnyOptions) => register<Counter>(name, options, (n, help, label, collect) => {
      const c = counter(n, help, label != null ? [label] : [], collect)
      return { increment: (v = 1) => c.inc(v), reset: () => c.reset() }
    })) as Metrics['registerCounter'],
    registerCounterGroup: ((name: string, options?: AnyOptions) => register<CounterGroup>(name, options, (n, help, label, collect) => {
      const l = label ?? n
      const c = counter(n, help, [l], collect)
      return { increment: values => { each(values, (k, v) => c.inc({ [l]: k }, v)) }, reset: () => c.reset() }
    })) as Metrics['registerCounterGroup'],
    registerHistogram: ((name: string, options?: AnyOptions) => register<Histogram>(name, options, (n, help, label, collect) => {
      const h: PromHistogram = new PromHistogram({ name: n, help, labelNames: label != null ? [label] : [], buckets: options?.buckets ?? DEFAULT_BUCKETS, registers: [registry], ...collectOption<PromHistogram>(collect, label, observe) })
      return { observe: v => { h.observe(v) }, reset: () => { h.reset() }, timer: (): StopTimer => h.startTimer() }
    })) as Metrics['registerHistogram'],
    registerHistogramGroup: ((name: string, options?: AnyOptions) => register<HistogramGroup>(name, options, (n, help, label, collect) => {
      const l = label ?? n
      const h: PromHistogram = new PromHistogram({ name: n, help, labelNames: [l], buckets: options?.buckets ?? DEFAULT_BUCKETS, registers: [registry], ...collectOption<PromHistogram>(collect, l, observe) })
      return { observe: values => { each(values, (k, v) => { h.observe({ [l]: k }, v) }) }, reset: () => { h.reset() }, timer: (key): StopTimer => h.startTimer({ [l]: key }) }
    })) as Metrics['registerHistogramGroup'],
    registerSummary: ((name: string, options?: AnyOptions) => register<Summary>(name, options, (n, help, label, collect) => {
      const s: PromSummary = new PromSummary({ name: n, help, labelNames: label != null ? [label] : [], ...summaryOptions(options), registers: [registry], ...collectOption<PromSummary>(collect, label, observe) })
      return { observe: v => { s.observe(v) }, reset: () => { s.reset() }, timer: (): StopTimer => s.startTimer() }
    })) as Metrics['registerSummary'],
    registerSummaryGroup: ((name: string, options?: AnyOptions) => register<SummaryGroup>(name, options, (n, help, label, collect) => {
      const l = label ?? n
      const s: PromSummary = new PromSummary({ name: n, help, labelNames: [l], ...summaryOptions(options), registers: [registry], ...collectOption<PromSummary>(collect, l, observe) })
      return { observe: values => { each(values, (k, v) => { s.observe({ [l]: k }, v) }) }, reset: () => { s.reset() }, timer: (key): StopTimer => s.startTimer({ [l]: key }) }
    })) as Metrics['registerSummaryGroup'],
    traceFunction: ((_name: string, fn: unknown) => fn) as Metrics['traceFunction'],
    createTrace: () => undefined
  }
  // the byte counters every host feeds: increments since the last scrape, like upstream's
  self.registerCounterGroup(TRANSFER, {
    label: 'protocol',
    calculate: () => {
      const out = Object.fromEntries(transfer)
      transfer.clear()
      return out
    }
  })
  return () => self
}

function summaryOptions (o?: SummaryOptions): Partial<{ percentiles: number[], maxAgeSeconds: number, ageBuckets: number, pruneAgedBuckets: boolean, compressCount: number }> {
  return {
    ...(o?.percentiles != null ? { percentiles: o.percentiles } : {}),
    ...(o?.maxAgeSeconds != null ? { maxAgeSeconds: o.maxAgeSeconds } : {}),
    ...(o?.ageBuckets != null ? { ageBuckets: o.ageBuckets } : {}),
    ...(o?.pruneAgedBuckets != null ? { pruneAgedBuckets: o.pruneAgedBuckets } : {}),
    ...(o?.compressCount != null ? { compressCount: o.compressCount } : {})
  }
}

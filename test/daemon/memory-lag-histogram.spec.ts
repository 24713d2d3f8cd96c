/**
 * The event-loop lag metrics (src/metrics.ts, issue 10): the same `nodejs_eventloop_lag_*` series
 * as prom-client's own collector, fed by a small histogram (~36 KB instead of Node's ~440 KB
 * monitorEventLoopDelay one) that samples the loop with a 100 ms timer; perf_hooks is left as it
 * was; a cleared registry (a stopped node) stops the sampling.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createMetricsRegistry, smallLoopDelayHistogram } from '../../src/metrics.js'
import { pause, waitFor } from '../helpers/wait.js'

const perfHooks = createRequire(import.meta.url)('node:perf_hooks') as { monitorEventLoopDelay: unknown }

const NAMES = ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_min_seconds', 'nodejs_eventloop_lag_max_seconds', 'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds', 'nodejs_eventloop_lag_p50_seconds', 'nodejs_eventloop_lag_p90_seconds', 'nodejs_eventloop_lag_p99_seconds']

function value (text: string, name: string): number {
  const line = text.split('\n').find(l => l.startsWith(name + ' '))
  assert.ok(line != null, `${name} is exported`)
  return Number(line.split(' ')[1])
}

test('the lag metrics keep their names and measure the loop; perf_hooks is untouched', async () => {
  const native = perfHooks.monitorEventLoopDelay
  const registry = createMetricsRegistry()
  assert.equal(perfHooks.monitorEventLoopDelay, native, 'monitorEventLoopDelay is restored')
  try {
    // a few ticks of the 100 ms sampler, the loop otherwise idle (a scrape resets the histogram,
    // so one scrape, after the ticks): every sample is the time between two ticks, >= ~100 ms
    await pause(450) // a few ticks to record: no event to wait for, a scrape would reset the histogram
    const text = await registry.metrics()
    assert.ok(value(text, 'nodejs_eventloop_lag_max_seconds') > 0, 'the sampler recorded ticks')
    for (const name of NAMES) assert.ok(Number.isFinite(value(text, name)), name)
    const p50 = value(text, 'nodejs_eventloop_lag_p50_seconds')
    assert.ok(p50 >= 0.099, `p50 ${p50} s: a sample is the time between two 100 ms ticks`)
  } finally {
    registry.clear()
  }
})

test('a blocked loop shows in the samples; disable stops the sampling', async () => {
  const h = smallLoopDelayHistogram(20)
  assert.equal(h.enable(), true)
  assert.equal(h.enable(), false, 'enabled once')
  await waitFor(() => h.count >= 1, 10_000, 'a first sample')
  const before = h.count
  const end = Date.now() + 300
  while (Date.now() < end) { /* block the loop for 300 ms */ }
  await waitFor(() => h.count > before, 10_000, 'the sample after the block')
  assert.ok(h.max >= 300e6, `max ${h.max} ns covers the 300 ms block`)
  assert.equal(h.disable(), true)
  const count = h.count
  await pause(100) // a period in which no sample may arrive (five ticks of 20 ms; samples did arrive while enabled)
  assert.equal(h.count, count, 'no samples after disable')
})

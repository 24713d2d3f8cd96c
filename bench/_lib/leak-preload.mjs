/**
 * The positive control of `bench idle`'s growth figure (bench/idle-validate.ts, docs/network.md
 * "Memory and idle cost"): loaded with `node --import` into a `dmsnet up` daemon, it retains
 * `DMSNET_BENCH_LEAK_MB_PER_MIN` (default 1) MB of memory per minute, for ever, in 64-kB steps:
 * Buffers filled (so their pages are resident: a zero-filled allocation would stay untouched
 * virtual memory) and kept in an array, like a cache that is never evicted. Nothing else: the
 * daemon runs as usual. A known leak the estimator must show at its rate, beside daemons without it.
 */
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { setInterval } from 'node:timers'

const rate = Number(process.env.DMSNET_BENCH_LEAK_MB_PER_MIN ?? '1')
const STEP = 64 * 1024
const retained = []
if (rate > 0) {
  const everyMs = 60_000 * STEP / (rate * 1024 * 1024)
  setInterval(() => { retained.push(Buffer.allocUnsafeSlow(STEP).fill(0x5a)) }, everyMs).unref()
}

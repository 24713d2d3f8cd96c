/**
 * The idle memory reclaim (src/daemon/memory-reclaim.ts, memory-native.ts, memory-module.ts; issue
 * 10): its rules on a fake clock (quiet long enough, not while busy, again only after RSS grew),
 * the real collection and malloc_trim giving memory back in this process, the flushing collection
 * dropping bytecode of functions that are not running (and those running again), the real event-loop
 * meter holding it off while the loop is busy, and a `dmsnet up` daemon running it (status and
 * /metrics), with the setting that turns it off as the control.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getHeapCodeStatistics } from 'node:v8'
import { runInThisContext } from 'node:vm'
import { createMemoryReclaimer, eventLoopUtilizationMeter, residentOutsideYoung } from '../../src/daemon/memory-reclaim.js'
import { fullCollector, mallocTrim } from '../../src/daemon/memory-native.js'
import type { HeapBreakdownMb } from '../../src/daemon/memory-module.js'
import { runCli, startDaemon } from '../cli/helpers.js'
import { pause, waitFor } from '../helpers/wait.js'

const MB = 1024 * 1024

/** A reclaimer on a fake clock, loop meter and RSS; `tick(elu)` advances one check. */
function fake (options: { busy?: () => boolean, tidy?: () => void, tidyIntervalMs?: number, tidyTrim?: boolean, trim?: () => boolean, settleGrowthBytes?: number, refillMs?: number } = {}) {
  let t = 1_000_000
  let elu = 0
  let rss = 100 * MB
  let collects = 0
  const r = createMemoryReclaimer({
    quietMs: 30_000,
    minGrowthBytes: 4 * MB,
    minIntervalMs: 60_000,
    checkIntervalMs: 5_000,
    maxEventLoopUtilization: 0.05,
    collect: () => { collects++; rss -= 10 * MB },
    trim: () => true,
    rss: () => rss,
    utilization: () => elu,
    now: () => t,
    // the baseline is the reclaim's result unless a test is about the refill
    refillMs: 0,
    ...options
  })
  return {
    r,
    tick (u = 0.01) { t += 5_000; elu = u; return r.check() },
    grow (bytes: number) { rss += bytes },
    get collects () { return collects }
  }
}

test('reclaims once quiet for quietMs, not while the loop is busy, then only after RSS grew by minGrowthBytes', () => {
  const f = fake()
  // 25 s quiet: not yet; a busy check starts the quiet period over
  for (let i = 0; i < 5; i++) assert.equal(f.tick(), undefined)
  assert.equal(f.tick(0.2), undefined, 'a busy loop (20 %) is not quiet')
  for (let i = 0; i < 5; i++) assert.equal(f.tick(), undefined, `quiet check ${i + 1} after the busy one`)
  const first = f.tick()
  assert.ok(first != null, 'the sixth quiet check (30 s) reclaims')
  assert.equal(first.returnedBytes, 10 * MB)
  assert.equal(first.trimmed, true)
  assert.equal(f.r.stats().baselineRss, 90 * MB)
  // RSS back up by 3 MB only, for 3 minutes: nothing
  f.grow(3 * MB)
  for (let i = 0; i < 36; i++) assert.equal(f.tick(), undefined)
  // 1 MB more (4 MB above the last result): the next quiet check reclaims
  f.grow(MB)
  assert.ok(f.tick() != null)
  assert.equal(f.collects, 2)
  // at once grown again: the minimum interval holds it back
  f.grow(20 * MB)
  for (let i = 0; i < 11; i++) assert.equal(f.tick(), undefined, 'within 60 s of the last reclaim')
  assert.ok(f.tick() != null, '60 s after')
  const s = f.r.stats()
  assert.equal(s.reclaims, 3)
  assert.equal(s.returnedBytes, 30 * MB)
  assert.ok(s.busyChecks >= 1)
})

test('between reclaims a quiet node tidies (plain major collection) every tidyIntervalMs; never while busy, never without a tidy', () => {
  let tidies = 0
  const f = fake({ tidy: () => { tidies++ }, tidyIntervalMs: 60_000 })
  for (let i = 0; i < 5; i++) f.tick()
  assert.ok(f.tick() != null, 'the first quiet period ends in a reclaim, not a tidy')
  assert.equal(tidies, 0)
  // quiet, no growth: a tidy 60 s after the reclaim, then every 60 s
  for (let i = 0; i < 11; i++) assert.equal(f.tick(), undefined)
  assert.equal(tidies, 0, 'not within 60 s of the reclaim')
  f.tick()
  assert.equal(tidies, 1, '60 s after the reclaim')
  for (let i = 0; i < 12; i++) f.tick()
  assert.equal(tidies, 2, 'and 60 s after that tidy')
  // busy for 2 minutes: no tidy; quiet again: the quiet period first, then one at once (overdue)
  for (let i = 0; i < 24; i++) f.tick(0.5)
  assert.equal(tidies, 2, 'no tidy while the loop is busy')
  for (let i = 0; i < 5; i++) f.tick()
  assert.equal(tidies, 2, 'not before the quiet period')
  f.tick()
  assert.equal(tidies, 3, 'overdue: at the end of the quiet period')
  // growth past minGrowthBytes: the reclaim wins over the tidy and restarts its interval
  f.grow(5 * MB)
  for (let i = 0; i < 12; i++) f.tick()
  assert.equal(f.collects, 2, 'the grown footprint got a reclaim')
  const s = f.r.stats()
  assert.equal(s.tidies, tidies)
  assert.ok(s.tidyMs >= 0)
  // no tidy function: the old behaviour exactly (nothing between reclaims)
  const plain = fake()
  for (let i = 0; i < 60; i++) plain.tick()
  assert.equal(plain.r.stats().tidies, 0)
  assert.equal(plain.collects, 1)
})

test('after a busy spell (3 busy checks in a row) a quiet node reclaims once the footprint grew settleGrowthBytes; not after blips, not without growth, not with the rule off', () => {
  const f = fake({ tidy: () => {}, tidyIntervalMs: 60_000, settleGrowthBytes: 1 * MB })
  for (let i = 0; i < 6; i++) f.tick()
  assert.equal(f.collects, 1, 'the first reclaim')
  // 2 MB of growth (under the 4-MiB rule) and a blip of 2 busy checks in a row: tidies only
  f.grow(2 * MB)
  f.tick(0.5); f.tick(0.5)
  for (let i = 0; i < 24; i++) assert.equal(f.tick(), undefined, `quiet check ${i + 1} after a blip`)
  // scattered busy checks, as an idle node's periodic jobs make them: 5 more, never 3 in a row
  for (let k = 0; k < 5; k++) {
    f.tick(0.5)
    for (let i = 0; i < 8; i++) assert.equal(f.tick(), undefined, `quiet check ${i + 1} after scattered busy check ${k + 1}`)
  }
  assert.equal(f.collects, 1, 'busy checks that are not in a row are not a spell, however many')
  // exactly 3 in a row: a spell; once quiet for quietMs, a settle reclaim
  f.tick(0.5); f.tick(0.5); f.tick(0.5)
  for (let i = 0; i < 5; i++) assert.equal(f.tick(), undefined, 'not before the quiet period')
  const settled = f.tick()
  assert.equal(settled?.reason, 'settle')
  assert.equal(f.r.stats().settleReclaims, 1)
  // the spell is spent: another 2 MB with no busy check waits for the 4-MiB rule
  f.grow(2 * MB)
  for (let i = 0; i < 36; i++) assert.equal(f.tick(), undefined)
  // a busy spell without growth (the reclaim just gave it back): no reclaim, the tidy goes on
  const still = fake({ tidy: () => {}, tidyIntervalMs: 60_000, settleGrowthBytes: 1 * MB })
  for (let i = 0; i < 6; i++) still.tick()
  for (let i = 0; i < 20; i++) still.tick(0.5)
  for (let i = 0; i < 24; i++) assert.equal(still.tick(), undefined)
  assert.equal(still.collects, 1, 'nothing grew: nothing to settle')
  // the rule off (0): the same spell and growth wait for the 4-MiB rule
  const off = fake({ settleGrowthBytes: 0 })
  for (let i = 0; i < 6; i++) off.tick()
  off.grow(2 * MB)
  for (let i = 0; i < 20; i++) off.tick(0.5)
  for (let i = 0; i < 24; i++) assert.equal(off.tick(), undefined)
  assert.equal(off.collects, 1)
  assert.equal(off.r.stats().settleReclaims, 0)
})

test('the baseline follows the refill of a quiet node for refillMs after a reclaim, so only growth past it counts; a busy spell ends the refill', () => {
  const f = fake({ refillMs: 300_000, settleGrowthBytes: 0 })
  for (let i = 0; i < 6; i++) f.tick()
  assert.equal(f.collects, 1, 'the first reclaim (RSS 90 MB)')
  // what comes back in the next 4 minutes (pooled pages, malloc's working set): 3.5 MB, in steps
  for (let k = 0; k < 7; k++) {
    f.grow(MB / 2)
    for (let i = 0; i < 6; i++) assert.equal(f.tick(), undefined, `refill step ${k + 1}`)
  }
  assert.equal(f.r.stats().baselineRaisedBytes, 3.5 * MB)
  assert.equal(f.r.stats().baselineFootprint, 93.5 * MB)
  // past the refill window the baseline stays: 3.9 MB more is under the rule (the trough-based rule
  // would have reclaimed at 0.5 MB of it), 4 MB above the raised baseline reclaims
  for (let i = 0; i < 24; i++) f.tick()
  f.grow(3.9 * MB)
  for (let i = 0; i < 24; i++) assert.equal(f.tick(), undefined, 'still under 4 MiB above the refilled baseline')
  assert.equal(f.r.stats().baselineFootprint, 93.5 * MB, 'frozen after refillMs')
  f.grow(0.1 * MB)
  assert.ok(f.tick() != null, '4 MiB above the refilled baseline')
  assert.equal(f.collects, 2)
  // a busy spell inside the refill window ends it: what the spell left stays growth (settle rule)
  const s = fake({ refillMs: 300_000, settleGrowthBytes: MB })
  for (let i = 0; i < 6; i++) s.tick()
  s.grow(MB / 2)
  for (let i = 0; i < 6; i++) s.tick()
  assert.equal(s.r.stats().baselineFootprint, 90.5 * MB, 'refilled while quiet')
  s.tick(0.5); s.tick(0.5); s.tick(0.5)
  s.grow(1.5 * MB)
  for (let i = 0; i < 5; i++) assert.equal(s.tick(), undefined, 'the quiet period after the spell')
  const settled = s.tick()
  assert.equal(settled?.reason, 'settle', 'the spell\'s 1.5 MB was not absorbed into the baseline')
  assert.equal(s.r.stats().baselineRaisedBytes, 0, 'a new reclaim starts a new refill')
  // control: refillMs 0 keeps the reclaim's result as the baseline (0.5 + 3.5 MB reclaims)
  const off = fake({ refillMs: 0, settleGrowthBytes: 0 })
  for (let i = 0; i < 6; i++) off.tick()
  off.grow(4 * MB)
  for (let i = 0; i < 12; i++) off.tick()
  assert.equal(off.collects, 2, 'trough-based: 4 MB of refill is growth')
})

test('with tidyTrim every tidy also trims malloc; without it only reclaims do', () => {
  for (const tidyTrim of [true, false]) {
    let trims = 0
    let tidies = 0
    const f = fake({ tidy: () => { tidies++ }, tidyIntervalMs: 60_000, tidyTrim, trim: () => { trims++; return true } })
    for (let i = 0; i < 6 + 12 * 3; i++) f.tick()
    assert.equal(f.collects, 1, 'one reclaim')
    assert.equal(tidies, 3, 'three tidies after it')
    assert.equal(trims, tidyTrim ? 4 : 1, `tidyTrim ${String(tidyTrim)}: trims = the reclaim's${tidyTrim ? ' + one per tidy' : ''}`)
  }
})

test('a busy() veto (VPN traffic) holds the reclaim off; the same run without the veto reclaims', () => {
  let busy = true
  const vetoed = fake({ busy: () => busy })
  for (let i = 0; i < 20; i++) assert.equal(vetoed.tick(), undefined)
  assert.equal(vetoed.collects, 0)
  busy = false
  for (let i = 0; i < 5; i++) assert.equal(vetoed.tick(), undefined)
  assert.ok(vetoed.tick() != null, '30 s after the traffic stopped')
  const control = fake()
  for (let i = 0; i < 5; i++) control.tick()
  assert.ok(control.tick() != null, 'without the veto: after 30 s')
})

test('the real collection and malloc_trim give back memory this process freed', () => {
  const trim = mallocTrim()
  assert.ok(trim != null, 'malloc_trim from the dmsnet addon (glibc)')
  const collect = fullCollector()
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'no gc global left behind')
  collect()
  trim()
  const base = process.memoryUsage.rss()
  // garbage in both heaps: small JS objects (V8 pages) and 32 kB buffers (malloc'd backing stores,
  // below the mmap threshold: they come from malloc's arenas); the last buffer stays alive so the
  // freed ones sit below it, where free() alone gives nothing back
  let junk: unknown[] | undefined = []
  for (let i = 0; i < 300_000; i++) junk.push({ i, s: `x${i}` })
  let bufs: Buffer[] | undefined = []
  for (let i = 0; i < 1500; i++) bufs.push(Buffer.alloc(32 * 1024, 1))
  const keep = bufs[bufs.length - 1]
  const grown = process.memoryUsage.rss()
  const outside = residentOutsideYoung()
  assert.ok(outside > 0 && outside < grown, `RSS outside the young generation ${(outside / MB).toFixed(1)} of ${(grown / MB).toFixed(1)} MB`)
  assert.ok(grown - base > 40 * MB, `the garbage is resident (+${((grown - base) / MB).toFixed(1)} MB)`)
  junk = undefined
  bufs = undefined
  const r = createMemoryReclaimer({ collect, trim }).reclaim()
  assert.ok(keep != null && keep.length === 32 * 1024)
  assert.ok(r.returnedBytes > 0.6 * (grown - base), `gave back ${(r.returnedBytes / MB).toFixed(1)} of ${((grown - base) / MB).toFixed(1)} MB`)
  assert.ok(r.rssAfter < base + 15 * MB, `RSS ${(r.rssAfter / MB).toFixed(1)} MB, ${(base / MB).toFixed(1)} before the garbage`)
  // the 47 MB of freed buffers are malloc's: after the collection freed them, only the trim returns them
  assert.ok(r.trimmed && r.trimmedBytes > 20 * MB, `malloc_trim gave back ${(r.trimmedBytes / MB).toFixed(1)} MB`)
})

test('fullCollector({ flushCode }) drops the bytecode of functions not running, and they still run after; the plain collection keeps it', () => {
  const bytecode = (): number => getHeapCodeStatistics().bytecode_and_metadata_size
  const plain = fullCollector()
  const flushing = fullCollector({ flushCode: true })
  // code this process ran before (earlier tests) ages with every plain collection and goes after a
  // few: let that happen first, so that what the two collections below drop is these functions
  for (let i = 0; i < 4; i++) plain()
  // 3000 small functions compiled and run: ~0.6 MB of bytecode and metadata that nothing runs afterwards
  const N = 3000
  let src = ''
  for (let i = 0; i < N; i++) src += `function flushMe${i} (a) { let s = 0; for (let j = 0; j < a; j++) s += (j * ${i}) % 7; return s + ${i} }\n`
  const fns = runInThisContext(`${src}[${Array.from({ length: N }, (_, i) => `flushMe${i}`).join(',')}]`) as Array<(a: number) => number>
  const expected = fns.map(f => f(5))
  // control: a plain collection keeps the bytecode of functions that ran moments ago (V8 flushes
  // only bytecode that has aged over several full collections: ~3 plain reclaims)
  const compiled = bytecode()
  plain()
  const kept = bytecode()
  flushing()
  const flushed = bytecode()
  assert.ok(kept - flushed > 0.3 * MB, `the flushing collection dropped ${((kept - flushed) / MB).toFixed(2)} MB of bytecode (${(kept / MB).toFixed(2)} -> ${(flushed / MB).toFixed(2)})`)
  // (the plain one may drop some: the script's top-level code, which ran once, and older code of this process)
  assert.ok(compiled - kept < (kept - flushed) / 3, `a plain collection dropped ${((compiled - kept) / MB).toFixed(2)} MB of bytecode, the flushing one ${((kept - flushed) / MB).toFixed(2)} MB`)
  // the flag is set for that collection only: the next plain one keeps what runs again
  assert.deepEqual(fns.map(f => f(5)), expected, 'flushed functions compile again and compute the same')
  const recompiled = bytecode()
  assert.ok(recompiled - flushed > 0.3 * MB, 'they were compiled again')
  plain()
  assert.ok(recompiled - bytecode() < 0.15 * MB, `after the flushing collection, a plain one keeps bytecode again (dropped ${((recompiled - bytecode()) / MB).toFixed(2)} MB)`)
})

test('the real loop meter: no reclaim while the loop spins, one once it is quiet', async () => {
  let collects = 0
  const r = createMemoryReclaimer({ quietMs: 300, minIntervalMs: 1, checkIntervalMs: 100, maxEventLoopUtilization: 0.5, collect: () => { collects++ }, utilization: eventLoopUtilizationMeter() })
  // the loop ~90 % busy for 1.5 s: 9 ms of synchronous work every 10 ms
  const spin = setInterval(() => { const end = performance.now() + 9; while (performance.now() < end); }, 10)
  try {
    const end = Date.now() + 1500
    while (Date.now() < end) {
      await pause(100) // the check period
      assert.equal(r.check(), undefined, 'no reclaim while the loop is busy')
    }
  } finally {
    clearInterval(spin)
  }
  assert.equal(collects, 0)
  assert.ok(r.stats().busyChecks >= 5, `busy checks: ${r.stats().busyChecks}`)
  // positive control: the same meter, the loop now idle
  await waitFor(async () => { await pause(100); r.check(); return collects === 1 }, 10_000, 'a reclaim once the loop is quiet')
})

test('dmsnet up runs the reclaim (status, /metrics), with filePages=dontneed its file pages too, tidies between reclaims (plain, or memory-reducing with tidyReduce); memory.reclaim.enabled=false turns it off', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-reclaim-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const base = { DMSNET_UI_ENABLED: 'false', DMSNET_MEMORY_RECLAIM_QUIET_MS: '1000', DMSNET_MEMORY_RECLAIM_MIN_INTERVAL_MS: '1000' }
  const args = (d: string): string[] => ['--data-dir', d, '--listen', '/ip4/127.0.0.1/tcp/0', '--metrics-port', '0']
  const status = async (d: string): Promise<{ modules: Record<string, { reclaims?: number, tidies?: number, mallocTrim?: boolean, filePages?: string, fileReleasedMb?: number, flushCodeIntervalMs?: number, codeFlushes?: number, codeFlushedMb?: number, heapMb?: HeapBreakdownMb } | undefined> }> => {
    const r = await runCli(['--data-dir', d, 'status', '--json'])
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout)
  }
  // any growth at all allows another reclaim: the daemon must run on after a release and reclaim again
  // (without the refill, which by default lets the baseline follow the first 5 minutes' regrowth up)
  const on = await startDaemon(args(join(dir, 'on')), { env: { ...base, DMSNET_MEMORY_RECLAIM_FILE_PAGES: 'dontneed', DMSNET_MEMORY_RECLAIM_MIN_GROWTH_BYTES: '1', DMSNET_MEMORY_RECLAIM_REFILL_MS: '0' } })
  try {
    await waitFor(async () => ((await status(join(dir, 'on'))).modules.memory?.reclaims ?? 0) >= 2, 60_000, 'two idle reclaims')
    const s = (await status(join(dir, 'on'))).modules.memory!
    assert.equal(s.mallocTrim, true)
    // the node binary's code and read-only data were resident and got unmapped; the daemon goes on
    // answering (this status and the scrape below run on code that came back from the page cache)
    assert.equal(s.filePages, 'dontneed')
    assert.ok((s.fileReleasedMb ?? 0) > 10, `file pages released: ${s.fileReleasedMb} MB`)
    // and the bytecode of what it did not run: what answers here was compiled again
    // (the default: the first reclaim flushes, the next ones within 5 minutes do not)
    assert.equal(s.codeFlushes, 1)
    assert.ok((s.codeFlushedMb ?? 0) > 0.2, `bytecode flushed: ${s.codeFlushedMb} MB`)
    // V8's committed heap per space: the old space and the total, which holds every space and what objects fill
    const h = s.heapMb!
    assert.ok((h.spaces.old ?? 0) > 1 && h.total > (h.spaces.old ?? 0), `heap spaces: ${JSON.stringify(h)}`)
    const spaces = Object.values(h.spaces).reduce((a, v) => a + v, 0)
    assert.ok(Math.abs(spaces - h.total) < 0.5 && h.used > 1 && h.used <= h.total + 0.1, `heap spaces add up: ${JSON.stringify(h)}`)
    assert.ok(h.arrayBuffers >= 0 && h.v8Malloced > 0, `ArrayBuffers and V8's malloc: ${JSON.stringify(h)}`)
    // glibc (this machine, CI): malloc's live bytes hold at least the ArrayBuffers' backing stores
    assert.ok(h.mallocInUse! >= h.arrayBuffers && h.mallocFree! >= 0, `malloc: ${JSON.stringify(h)}`)
    const url = /^metrics:\s+(\S+)/m.exec(on.stdout())![1]!
    const text = await (await fetch(url)).text()
    assert.match(text, /^dmsnet_memory_reclaims_total [1-9]/m)
    assert.match(text, /^dmsnet_memory_reclaimed_bytes_total \d/m)
    assert.match(text, /^dmsnet_memory_file_pages_released_bytes_total [1-9]/m)
  } finally {
    assert.equal(await on.stop(), 0)
  }
  // between reclaims (growth below a 1-GiB rule), a quiet daemon tidies: plain major collections,
  // or with tidyReduce memory-reducing ones. --trace-gc says "testing" of the collections the daemon
  // asks for (its reclaims and tidies, through V8's gc extension) and "(reduce)" of memory-reducing
  // ones; a reclaim runs two or more of those
  const asked = (out: string): string[] => out.split('\n').filter(l => l.includes('Mark-Compact') && l.includes('testing'))
  const reduceGcs = (out: string): number => asked(out).filter(l => l.includes('Mark-Compact (reduce)')).length
  const plainGcs = (out: string): number => asked(out).filter(l => /Mark-Compact \d/.test(l)).length
  const traceGc = { DMSNET_NODE_FLAGS: '--v8-pool-size=1 --initial-old-space-size=64 --no-incremental-marking-task --trace-gc' }
  for (const reduce of [false, true]) {
    const d = join(dir, reduce ? 'tidy-reduce' : 'tidy')
    const tidy = await startDaemon(args(d), { env: { ...base, ...traceGc, DMSNET_MEMORY_RECLAIM_MIN_GROWTH_BYTES: String(1024 ** 3), DMSNET_MEMORY_RECLAIM_TIDY_INTERVAL_MS: '1000', DMSNET_MEMORY_RECLAIM_TIDY_REDUCE: String(reduce) } })
    try {
      await waitFor(async () => ((await status(d)).modules.memory?.tidies ?? 0) >= 3, 60_000, 'three tidies')
      const out = tidy.stdout() // before the status: every collection it shows is counted there
      const m = (await status(d)).modules.memory!
      assert.equal(m.reclaims, 1, 'one reclaim: the growth rule holds the next one back')
      const url = /^metrics:\s+(\S+)/m.exec(tidy.stdout())![1]!
      assert.match(await (await fetch(url)).text(), /^dmsnet_memory_tidies_total [1-9]/m)
      const [r, p] = [reduceGcs(out), plainGcs(out)]
      const why = `${r} reducing and ${p} plain collections asked for, ${m.tidies} tidies, 1 reclaim`
      if (reduce) assert.ok(p === 0 && r >= 2 * (1 + 3), `tidyReduce: every tidy memory-reducing: ${why}`)
      else assert.ok(p >= 3 && p <= m.tidies! && r >= 2, `plain tidies: ${why}`)
    } finally {
      assert.equal(await tidy.stop(), 0)
    }
  }
  const off = await startDaemon(args(join(dir, 'off')), { env: { ...base, DMSNET_MEMORY_RECLAIM_ENABLED: 'false' } })
  try {
    const s = await status(join(dir, 'off'))
    // the module stays for the Buffer pool and the TurboFan gate (memory-jit.ts), without reclaims
    assert.equal(s.modules.memory?.reclaims, 0, 'no reclaim')
    assert.equal(s.modules.memory?.mallocTrim, undefined, 'no reclaimer')
    assert.ok(s.modules.messaging != null, 'the other modules run')
  } finally {
    assert.equal(await off.stop(), 0)
  }
})

/**
 * Unit tests of the scale bench's profile slicer (pure logic on a synthetic V8 CPU profile): frames
 * are attributed to packages and source areas, and each phase gets only the samples inside its
 * monotonic window, with `(idle)` left out of the CPU it reports.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { category, sliceProfiles } from '../../bench/_lib/scale-profile.js'
import type { PhaseRecord } from '../../bench/_lib/scale-phase.js'

test('scale profile: a frame is named by its package, scoped package, source area or built-in', () => {
  assert.equal(category('file:///w/node_modules/@libp2p/kad-dht/dist/src/x.js', 'f'), '@libp2p/kad-dht')
  assert.equal(category('file:///w/node_modules/protons-runtime/dist/src/x.js', 'f'), 'protons-runtime')
  assert.equal(category('file:///w/dist/src/network/host.js', 'f'), 'dmsnet/network')
  assert.equal(category('node:internal/streams/readable', 'f'), 'node:internal/streams')
  assert.equal(category('', '(garbage collector)'), '(garbage collector)')
  assert.equal(category('', 'writeBuffer'), '(native)')
})

test('scale profile: each phase counts only its own samples, idle excluded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'scale-prof-'))
  try {
    // ids: 1 root, 2 idle, 3 kad frame, 4 our network frame; samples 1 ms apart from t = 1000 µs
    const nodes = [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
      { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      { id: 3, callFrame: { functionName: 'query', url: 'file:///w/node_modules/@libp2p/kad-dht/dist/src/q.js', lineNumber: 9 } },
      { id: 4, callFrame: { functionName: 'tick', url: 'file:///w/dist/src/network/keeper.js', lineNumber: 4 } }
    ]
    const samples = [3, 3, 3, 2, 2, 4, 4, 2, 2, 2]
    await writeFile(join(dir, 'node-7.cpuprofile'), JSON.stringify({ nodes, startTime: 0, samples, timeDeltas: samples.map(() => 1000) }))
    const ph = (phase: string, from: number, to: number): PhaseRecord => ({ phase, ms: 0, monoUs: [from, to], load1m: { start: 0, end: 0, max: 0 }, cpu: { daemonsPct: 0, perDaemonPct: 0, machinePct: 0 }, link: { packets: 0, lost: 0, overflow: 0, lateMeanMs: 0, lateMaxMs: 0, late5ms: 0, heldMax: 0, queueWaitMaxMs: 0 } })
    // sample i is at (i + 1) ms: the first window holds the three kad samples and two idle ones
    const md = await sliceProfiles(dir, [ph('dht', 1000, 6000), ph('idle', 6000, 11000)])
    assert.match(md, /\*\*dht\*\* \(0 s\): 3 ms CPU/)
    assert.match(md, /by area: @libp2p\/kad-dht 3\n/)
    assert.match(md, /\*\*idle\*\* \(0 s\): 2 ms CPU/)
    assert.match(md, /by area: dmsnet\/network 2\n/)
    assert.equal(await readFile(join(dir, 'phases.md'), 'utf8'), md)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

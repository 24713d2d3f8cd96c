/**
 * bench idle's growth estimator (bench/_lib/growth.ts): the Theil-Sen slope through per-bucket
 * minima recovers the floor's slope under a GC-like sawtooth that decides the least-squares slope
 * of the raw samples, its Sen interval holds the true slope, and it does not hide a real leak.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bucketMinima, floorGrowth, theilSen } from '../../bench/_lib/growth.js'
import { slope } from '../../bench/_lib/daemons.js'

/** 3 minutes sampled every 5 s (x in hours): floor + `perH`·t, plus a sawtooth of 8 MB every 80 s. */
function run (perH: number, phaseS: number): Array<{ x: number, y: number }> {
  const pts = []
  for (let s = 0; s <= 180; s += 5) {
    const saw = ((s + phaseS) % 80) / 80 * 8
    pts.push({ x: s / 3600, y: 80 + perH * s / 3600 + saw })
  }
  return pts
}

test('theilSen: exact on a line, the median of pair slopes ignores one outlier', () => {
  const line = [0, 1, 2, 3, 4, 5].map(x => ({ x, y: 2 * x + 1 }))
  assert.equal(theilSen(line).slope, 2)
  const spoiled = line.map(p => p.x === 5 ? { x: 5, y: 100 } : p)
  assert.equal(theilSen(spoiled).slope, 2)
  assert.ok(slope(spoiled.map(p => p.x), spoiled.map(p => p.y)) > 10, 'least squares follows the outlier')
})

test('bucketMinima: the lowest point of each bucket, a short last bucket left out', () => {
  const pts = [{ x: 0, y: 5 }, { x: 1, y: 3 }, { x: 2, y: 4 }, { x: 3, y: 9 }, { x: 5, y: 1 }]
  assert.deepEqual(bucketMinima(pts, 2), [{ x: 1, y: 3 }, { x: 2, y: 4 }, { x: 5, y: 1 }])
  // a last bucket under half the width (one sample at 6.5) is no floor: left out
  assert.deepEqual(bucketMinima([...pts, { x: 6.5, y: 0 }], 2), [{ x: 1, y: 3 }, { x: 2, y: 4 }, { x: 5, y: 1 }])
})

test('floorGrowth: under a sawtooth its interval holds the true slope, 0 or a 60 MB/h leak, wherever the window starts', () => {
  const est: Record<number, number[]> = { 0: [], 60: [] }
  for (let phase = 0; phase < 80; phase += 10) {
    for (const perH of [0, 60]) {
      const g = floorGrowth(run(perH, phase), 30 / 3600)
      assert.ok(g.lo <= perH && perH <= g.hi, `phase ${phase} s, ${perH} MB/h: estimate ${g.slope.toFixed(1)} [${g.lo.toFixed(1)}, ${g.hi.toFixed(1)}]`)
      est[perH]!.push(g.slope)
    }
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  // over the phases the estimate centres on the truth, and the leak stands apart from no growth
  assert.ok(Math.abs(mean(est[0]!)) < 25, `no growth: mean estimate ${mean(est[0]!).toFixed(1)}`)
  assert.ok(Math.abs(mean(est[60]!) - 60) < 25, `60 MB/h: mean estimate ${mean(est[60]!).toFixed(1)}`)
})

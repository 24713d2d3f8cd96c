/**
 * bench scale's idle window (bench/_lib/scale-util.ts cpuPercentSliced): the whole window is one
 * reading from /proc at each end, and each slice is its own, so a burst shows in the slice it
 * landed in and is averaged over the whole window. A child that burns CPU only at the start of the
 * window is the positive control.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { cpuPercentSliced } from '../../bench/_lib/scale-util.js'
import { waitForText } from '../helpers/wait.js'

test('cpuPercentSliced: a burst at the start is in the first slice, not the last, and the whole is between', async () => {
  // burns 200 ms of its own CPU time when told to (CPU time, so a loaded machine stretches the burst, not
  // shrinks it), then idles until killed; it says "ready" once it listens
  const child = spawn(process.execPath, ['-e', 'process.stdin.once("data", () => { const t = process.cpuUsage(); while (process.cpuUsage(t).user < 200_000); }); setInterval(() => {}, 1000); process.stdout.write("ready\\n")'], { stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  try {
    await waitForText(() => out, 'ready')
    child.stdin.write('go\n')
    // the window's first reading is taken in this tick, before the child can have read "go"
    const r = await cpuPercentSliced([child.pid!, 2 ** 22 + 12345], 2400, 600)
    const slices = r.slices[0]! as number[]
    assert.equal(slices.length, 4)
    const first = slices[0]!
    const last = slices[3]!
    assert.ok(first > 5 && first > last, `the burst starts in the first slice (${slices.join(', ')}%)`)
    const whole = r.whole[0]!
    const mean = slices.reduce((a, b) => a + b, 0) / slices.length
    assert.ok(Math.abs(whole - mean) < 2, `the whole window (${whole}%) is the mean of its equal slices (${mean}%)`)
    assert.ok(whole < Math.max(...slices), `a burst is averaged over the whole window (${whole}% of ${slices.join(', ')}%)`)
    assert.equal(r.whole[1], undefined, 'a process that does not exist reads as undefined, not 0')
  } finally {
    child.kill()
  }
})

/**
 * src/util/once-retry.ts, the "load once; after a failure, try again on the next call; refuse after
 * stop" rule that the lazy features (src/daemon/features/lazy.ts) and the lazy transport and its
 * listener (src/network/lazy-transport.ts) share: concurrent callers share one attempt, a failure
 * is not cached, and after stop no attempt starts while a value already made is still handed out.
 * The attempts are gated by hand-released promises, so the order is fixed, not timed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { onceRetry } from '../../src/util/once-retry.js'
import { NotStartedError } from '../../src/errors.js'

/** A `make` whose attempts each wait for `settle(i, value | Error)`. */
function gatedMaker<T> (): { make: (arg?: string) => Promise<T>, calls: Array<string | undefined>, settle: (i: number, v: T | Error) => void } {
  const calls: Array<string | undefined> = []
  const gates: Array<{ resolve: (v: T) => void, reject: (e: Error) => void }> = []
  return {
    calls,
    make: async (arg) => {
      calls.push(arg)
      return await new Promise<T>((resolve, reject) => { gates.push({ resolve, reject }) })
    },
    settle: (i, v) => {
      const g = gates[i] ?? assert.fail(`no attempt ${i}`)
      if (v instanceof Error) g.reject(v)
      else g.resolve(v)
    }
  }
}

const refuse = (): Error => new NotStartedError('stopped')

test('onceRetry: concurrent callers share one attempt and get the same value; later calls make nothing', async () => {
  const m = gatedMaker<{ id: number }>()
  const once = onceRetry(m.make, refuse)
  const a = once.get('first')
  const b = once.get('second')
  assert.equal(once.value, undefined, 'nothing made while the attempt is under way')
  m.settle(0, { id: 1 })
  const [va, vb] = await Promise.all([a, b])
  assert.equal(va, vb)
  assert.deepEqual(m.calls, ['first'], 'one attempt, with the first caller\'s argument')
  assert.equal(once.value, va)
  assert.equal(await once.get('third'), va)
  assert.deepEqual(m.calls, ['first'])
})

test('onceRetry: a failure reaches every caller of that attempt and is not cached; the next call tries again', async () => {
  const m = gatedMaker<string>()
  const once = onceRetry(m.make, refuse)
  const a = once.get()
  const b = once.get()
  m.settle(0, new Error('module missing'))
  await assert.rejects(a, /module missing/)
  await assert.rejects(b, /module missing/)
  assert.equal(once.value, undefined)
  const c = once.get()
  assert.equal(m.calls.length, 2, 'a second attempt')
  m.settle(1, 'loaded')
  assert.equal(await c, 'loaded')
  assert.equal(once.value, 'loaded')
})

test('onceRetry: a make that throws before returning a promise is not cached either', async () => {
  let n = 0
  const once = onceRetry(async () => { if (n++ === 0) throw new TypeError('sync'); return n }, refuse)
  await assert.rejects(once.get(), TypeError)
  assert.equal(await once.get(), 2)
})

test('onceRetry: after stop, a fresh call is refused with the caller\'s typed error and makes nothing', async () => {
  const m = gatedMaker<string>()
  const once = onceRetry(m.make, refuse)
  assert.equal(await once.stop(), undefined, 'nothing was made')
  assert.equal(once.stopped, true)
  await assert.rejects(once.get(), (e: Error) => e instanceof NotStartedError && e.name === 'NotStartedError')
  assert.deepEqual(m.calls, [])
})

test('onceRetry: stop waits for an attempt under way and returns its value; a caller racing the stop gets the same value', async () => {
  const m = gatedMaker<{ id: number }>()
  const once = onceRetry(m.make, refuse)
  const early = once.get()
  const stopped = once.stop()
  const late = once.get()
  m.settle(0, { id: 7 })
  const v = await stopped
  assert.deepEqual(v, { id: 7 })
  assert.equal(await early, v)
  assert.equal(await late, v, 'the stopper tears down the one value; no second one is made')
  assert.equal(await once.get(), v)
  assert.equal(m.calls.length, 1)
})

test('onceRetry: an attempt under way at stop that fails leaves nothing: stop resolves undefined, the next call is refused', async () => {
  const m = gatedMaker<string>()
  const once = onceRetry(m.make, refuse)
  const early = once.get()
  const stopped = once.stop()
  m.settle(0, new Error('boom'))
  await assert.rejects(early, /boom/)
  assert.equal(await stopped, undefined)
  await assert.rejects(once.get(), NotStartedError)
  assert.equal(m.calls.length, 1)
})

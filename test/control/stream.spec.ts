/**
 * The bounded buffer of streaming control methods (src/control/stream.ts): a consumer that falls
 * behind loses the oldest items, and every loss is counted; what waits is counted too and released
 * when the stream ends.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { pushStream, pushStreamStats } from '../../src/control/stream.js'

test('a slow consumer gets the newest items; the dropped ones and the waiting ones are counted', async () => {
  const controller = new AbortController()
  let push!: (n: number) => void
  const it = pushStream<number>(controller.signal, p => { push = p }, { maxBuffered: 3 })
  const first = it.next() // subscribes; waits for an item
  const dropped0 = pushStreamStats.dropped
  const buffered0 = pushStreamStats.buffered
  push(0)
  assert.deepEqual(await first, { value: 0, done: false })
  for (let i = 1; i <= 10; i++) push(i) // nobody reads meanwhile
  assert.equal(pushStreamStats.dropped - dropped0, 7)
  assert.equal(pushStreamStats.buffered - buffered0, 3)
  assert.deepEqual((await it.next()).value, 8)
  assert.deepEqual((await it.next()).value, 9)
  assert.equal(pushStreamStats.buffered - buffered0, 1)
  controller.abort()
  await it.return(undefined)
  assert.equal(pushStreamStats.buffered, buffered0, 'an ended stream holds nothing')
})

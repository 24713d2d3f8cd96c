/**
 * The refusal log limiter (unit level, fake clock): one line per key per interval, the skipped
 * ones counted and reported with the next line; keys are independent; memory bounded.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LogLimiter } from '../../src/swarm/log-limit.js'

describe('swarm: refusal log limiter', () => {
  it('logs a key once per interval and reports what it suppressed', () => {
    const l = new LogLimiter(1000, 3)
    assert.equal(l.take('a', 0), 0)
    assert.equal(l.take('a', 10), undefined)
    assert.equal(l.take('a', 20), undefined)
    assert.equal(l.take('b', 30), 0, 'another key is independent')
    assert.equal(l.take('a', 1000), 2, 'two lines were suppressed')
    for (const k of ['c', 'd', 'e']) l.take(k, 1001)
    assert.equal(l.take('a', 1002), 0, 'the table was cleared when full: bounded memory')
  })
})

/**
 * The receive-window budget (src/network/window-budget.ts) as logic: grants up to the smaller of
 * the connection's and the node's room, refusals counted, closed streams give their share back.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createWindowBudget } from '../../src/network/window-budget.js'

describe('receive-window budget', () => {
  it('grants within the per-connection and the global pool, counts refusals, takes releases back', () => {
    const budget = createWindowBudget({ perConnection: 100, global: 150 })
    const c1 = budget.forConnection()
    const c2 = budget.forConnection()
    assert.equal(c1.grow(60), 60)
    assert.equal(c1.grow(60), 40, 'capped by the connection pool')
    assert.equal(c1.grow(1), 0, 'connection pool empty')
    assert.equal(c2.grow(80), 50, 'capped by what is left globally')
    assert.equal(c2.grow(1), 0, 'global pool empty')
    assert.deepEqual({ ...budget.stats }, { grantedBytes: 150, grants: 3, refusals: 2, widenedStreams: 0, creditUpdates: 0 })
    c1.release(60)
    assert.equal(budget.stats.grantedBytes, 90)
    assert.equal(c2.grow(80), 50, 'the connection pool still caps c2 at 100')
    c2.release(1000)
    assert.equal(budget.stats.grantedBytes, 40, 'a release never gives back more than was granted')
  })
})

// Login codes and sessions of the status page (logic only, with a fake clock): a code works once
// and only until it expires; sessions expire; both tables stay bounded, dropping the oldest.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createSessionStore } from '../../src/ui/sessions.js'

test('a login code works once, before it expires; sessions expire', () => {
  let now = 1_000_000
  const store = createSessionStore({ codeTtlMs: 1000, sessionTtlMs: 5000, now: () => now })
  const { code, expiresAt } = store.issueCode()
  assert.equal(expiresAt, now + 1000)
  assert.equal(store.redeem('not-a-code'), undefined)
  const session = store.redeem(code)
  assert.ok(session != null && session.length >= 40)
  assert.equal(store.valid(session), true)
  assert.equal(store.redeem(code), undefined, 'spent')
  assert.equal(store.valid('x'), false)
  assert.equal(store.valid(undefined), false)
  assert.equal(store.valid(''), false)

  const late = store.issueCode()
  now += 1001
  assert.equal(store.redeem(late.code), undefined, 'expired code')
  now += 4000
  assert.equal(store.valid(session), false, 'expired session')
  assert.equal(store.sessions, 0)
})

test('codes and sessions are bounded: the oldest go first', () => {
  const store = createSessionStore({ maxCodes: 2, maxSessions: 2 })
  const codes = [store.issueCode(), store.issueCode(), store.issueCode()].map(c => c.code)
  assert.equal(store.redeem(codes[0]!), undefined, 'the oldest code was dropped')
  const s1 = store.redeem(codes[1]!)
  const s2 = store.redeem(codes[2]!)
  const s3 = store.redeem(store.issueCode().code)
  assert.equal(store.sessions, 2)
  assert.equal(store.valid(s1), false, 'the oldest session was dropped')
  assert.equal(store.valid(s2), true)
  assert.equal(store.valid(s3), true)
})

/**
 * The replay cache's per-forwarder quotas (unit level, fake clock): one forwarder minting senders
 * fills only its own share; other forwarders' new senders still get in; expiry gives the share
 * back; nonces are bounded per forwarder too.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { ReplayCache } from '../../src/messaging/replay-cache.js'

describe('messaging: replay cache quotas per forwarder', () => {
  it('a forwarder over its sender quota is refused as quota; another forwarder\'s new sender is fresh', () => {
    const c = new ReplayCache({ maxSendersPerPeer: 10 })
    for (let i = 0; i < 10; i++) assert.equal(c.check(`minted${i}`, randomBytes(16), 100_000, 1000, 'gossip:X'), 'fresh')
    assert.equal(c.check('minted10', randomBytes(16), 100_000, 1000, 'gossip:X'), 'quota')
    assert.equal(c.check('honest', randomBytes(16), 100_000, 1000, 'gossip:H'), 'fresh')
    // a known sender forwarded by X again is not a new sender: still accepted
    assert.equal(c.check('minted3', randomBytes(16), 100_000, 1000, 'gossip:X'), 'fresh')
    assert.deepEqual(c.usageOf('gossip:X').senders, 10)
    assert.equal(c.stats().quotaRefusals, 1)
    // once X's senders expired, its share is back
    assert.equal(c.check('minted11', randomBytes(16), 300_000, 200_000, 'gossip:X'), 'fresh')
  })

  it('a forwarder over its nonce quota is refused; the replay check still comes first', () => {
    const c = new ReplayCache({ maxEntriesPerPeer: 5 })
    const n = randomBytes(16)
    assert.equal(c.check('s', n, 100_000, 1000, 'gossip:X'), 'fresh')
    for (let i = 0; i < 4; i++) assert.equal(c.check('s', randomBytes(16), 100_000, 1000, 'gossip:X'), 'fresh')
    assert.equal(c.check('s', n, 100_000, 1000, 'gossip:X'), 'replayed')
    assert.equal(c.check('s', randomBytes(16), 100_000, 1000, 'gossip:X'), 'quota')
    // the same sender's message through another forwarder is charged there
    assert.equal(c.check('s', randomBytes(16), 100_000, 1000, 'gossip:H'), 'fresh')
    assert.equal(c.size, 6)
  })
})

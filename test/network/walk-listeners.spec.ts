/**
 * The random walk of a real dmsnet node (src/network/walk-listeners.ts): a consumer that takes 40
 * peers from `walk()` leaves none of them reachable once it has moved on, and the walk keeps its
 * contract (a `walk:error` reaches the consumer, an abort ends it, the walk stops with its last
 * consumer).
 *
 * The positive control runs libp2p's own `walk()` (the prototype's) on the same RandomWalk: p-event
 * leaves an abort listener per peer on the walk's signal, and that listener keeps the peer, so most
 * of the 40 stay reachable until the walk ends. If libp2p or p-event stops leaking, the control
 * fails: then src/network/walk-listeners.ts can go.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { startNode, type TestNode } from './helpers.js'
import { NO_KEEPER } from './dht-helpers.js'
import type { RandomWalkInternals } from '../../src/network/walk-listeners.js'
import type { PeerInfo } from '@libp2p/interface'

type Walk = RandomWalkInternals & { safeDispatchEvent: (type: string, init: { detail: unknown }) => void }

async function tick (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}

function collectGarbage (): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  setFlagsFromString('--no-expose-gc')
  gc()
  gc()
}

/**
 * Takes `count` peers from `walkFn` on `rw`, each dispatched by hand as the shared walk would, and
 * returns how many of them are still reachable after the consumer moved on (and a full GC).
 */
async function peersKept (rw: Walk, walkFn: RandomWalkInternals['walk'], count: number): Promise<number> {
  const refs: Array<WeakRef<PeerInfo>> = []
  const ac = new AbortController()
  const it = walkFn.call(rw, { signal: ac.signal })[Symbol.asyncIterator]()
  const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  for (let i = 0; i < count; i++) {
    const next = it.next()
    await tick()
    const peer: PeerInfo = { id, multiaddrs: [] }
    refs.push(new WeakRef(peer))
    rw.safeDispatchEvent('walk:peer', { detail: peer })
    const r = await next
    assert.equal(r.value, peer, 'the consumer got the peer dispatched')
  }
  // the consumer moves on: one more request is pending, the walk itself is not over
  const pending = it.next()
  await tick()
  collectGarbage()
  const kept = refs.filter(r => r.deref() != null).length
  ac.abort()
  await assert.rejects(pending, { name: 'AbortError' }, 'an abort ends the consumer')
  return kept
}

describe('network: the random walk leaves no listener per peer behind', () => {
  let node: TestNode
  let rw: Walk

  before(async () => {
    node = await startNode(NO_KEEPER)
    rw = (node.net.host as unknown as { components: { randomWalk: Walk } }).components.randomWalk
    assert.notEqual(rw.walk, Object.getPrototypeOf(rw).walk, 'dmsnet replaced the walk')
    // a shared walk "already running": no real lookups, the test dispatches the peers itself
    rw.walking = true
  })
  after(async () => {
    rw.walking = false
    await node.stop()
  })

  it('dmsnet\'s walk keeps no peer once the consumer moved on', async () => {
    const kept = await peersKept(rw, rw.walk, 40)
    assert.ok(kept <= 1, `${kept} of 40 peers still reachable`)
    assert.equal(rw.walkers, 0, 'the consumer left')
  })

  it('control: libp2p\'s own walk keeps the peers it handed out while the walk runs', async () => {
    const kept = await peersKept(rw, Object.getPrototypeOf(rw).walk as RandomWalkInternals['walk'], 40)
    assert.ok(kept >= 30, `libp2p's walk kept ${kept} of 40 (the leak this module works around)`)
  })

  it('a walk:error reaches the consumer, and the walk stops with its last consumer', async () => {
    const controller = new AbortController()
    rw.walkController = controller
    const it = rw.walk()[Symbol.asyncIterator]()
    const next = it.next()
    await tick()
    assert.equal(rw.walkers, 1)
    rw.safeDispatchEvent('walk:error', { detail: new Error('lookup failed') })
    await assert.rejects(next, /lookup failed/)
    assert.equal(rw.walkers, 0)
    assert.equal(controller.signal.aborted, true, 'the shared walk was told to stop')
  })
})

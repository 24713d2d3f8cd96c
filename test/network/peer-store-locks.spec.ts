/**
 * The peer store's per-peer read/write locks (src/network/peer-store-locks.ts, issue 10) on
 * libp2p's real peer store: readers share, a writer is alone, a reader arriving while a writer
 * waits queues behind it, an aborted wait rejects with AbortError and frees its place. And what
 * they are for: 50 record reads arm no timer, where libp2p's own locks (mortice, the control on a
 * second store) arm 1-ms timers (about two per read).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { persistentPeerStore } from '@libp2p/peer-store'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { defaultLogger } from '@libp2p/logger'
import { MemoryDatastore } from 'datastore-core/memory'
import { TypedEventEmitter } from 'main-event'
import { multiaddr } from '@multiformats/multiaddr'
import { lightPeerStoreLocks } from '../../src/network/peer-store-locks.js'
import type { PeerId } from '@libp2p/interface'

type Release = () => void
interface Locks { getReadLock(p: PeerId, o?: { signal?: AbortSignal }): Promise<Release>, getWriteLock(p: PeerId, o?: { signal?: AbortSignal }): Promise<Release> }

async function makeStore (light: boolean): Promise<{ store: ReturnType<typeof persistentPeerStore>, locks: Locks, other: PeerId, light?: ReturnType<typeof lightPeerStoreLocks> }> {
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const store = persistentPeerStore({ peerId: self, datastore: new MemoryDatastore(), events: new TypedEventEmitter(), logger: defaultLogger() })
  const locks = light ? lightPeerStoreLocks(store) ?? assert.fail('the peer store has no lock methods to replace') : undefined
  await store.merge(other, { multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/4001')] })
  return { store, locks: (store as unknown as { store: Locks }).store, other, light: locks }
}

/** Lets every pending promise callback and I/O callback run a few times over. */
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }

describe('network: peer store locks', () => {
  it('readers share, a writer waits for them and goes before later readers, an aborted wait leaves', async () => {
    const { store, locks, other, light } = await makeStore(true)
    const order: string[] = []
    const r1 = await locks.getReadLock(other)
    const r2 = await locks.getReadLock(other) // a second reader at once
    const w = locks.getWriteLock(other).then(rel => { order.push('write'); return rel })
    const r3 = locks.getReadLock(other).then(rel => { order.push('read after write'); return rel })
    await settle()
    assert.deepEqual(order, [], 'the writer waits for both readers; the later reader waits behind it')
    r1()
    await settle()
    assert.deepEqual(order, [])
    r2()
    const wRelease = await w
    await settle()
    assert.deepEqual(order, ['write'], 'the writer alone')
    // a read through the store waits for the writer too, and an aborted one leaves the queue
    const controller = new AbortController()
    const aborted = store.get(other, { signal: controller.signal })
    controller.abort()
    await assert.rejects(aborted, { name: 'AbortError' })
    wRelease()
    ;(await r3)()
    assert.deepEqual(order, ['write', 'read after write'])
    assert.equal((await store.get(other)).id.equals(other), true, 'the record reads after all that')
    assert.equal(light?.active(), 0, 'no lock left behind')
  })

  it('50 reads arm no timer; libp2p\'s own locks (control) arm 1-ms timers (about two per read)', async () => {
    const count1msTimers = async (fn: () => Promise<void>): Promise<number> => {
      const real = globalThis.setTimeout
      let n = 0
      globalThis.setTimeout = ((cb: () => void, ms?: number) => { if (ms === 1) n++; return real(cb, ms) }) as typeof setTimeout
      try { await fn() } finally { globalThis.setTimeout = real }
      return n
    }
    const reads = async (s: Awaited<ReturnType<typeof makeStore>>): Promise<void> => { for (let i = 0; i < 50; i++) await s.store.get(s.other) }
    // one store at a time: libp2p's locks arm their timers after the access that used them
    const withLight = await count1msTimers(async () => { await reads(await makeStore(true)) })
    const withMortice = await count1msTimers(async () => { await reads(await makeStore(false)) })
    assert.ok(withMortice >= 50, `control: libp2p's locks armed ${withMortice} 1-ms timers for 50 reads`)
    assert.equal(withLight, 0)
  })
})

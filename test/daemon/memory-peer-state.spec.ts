/**
 * What an idle daemon keeps per known peer (issue 10, stop 28): the Buffer pool's slab size
 * (src/daemon/memory-buffer-pool.ts, `memory.bufferPoolBytes`) and the two peer-store caches that
 * used to keep every peer they ever saw (src/network/peer-store-writes.ts, peer-info-cache.ts).
 *
 * - A small Buffer that lives on keeps its whole pool slab: 100 "peers", each keeping one 34-byte
 *   digest among 40 short-lived Buffers, keep ~66 whole 8-KiB slabs with node's default and at most
 *   1 KiB per kept Buffer with the daemon's 1-KiB pool (the control: 8 KiB again after restoring).
 * - The peer-store caches (real `@libp2p/peer-store` on a memory datastore) drop what has expired:
 *   100 peers written, then `refreshMs` later one more write leaves one record remembered, and the
 *   dropped records are collectable (WeakRefs empty after a full collection); within `refreshMs` a
 *   redundant merge is still skipped (the behaviour kept), after it written again.
 * - `dmsnet up` applies `memory.bufferPoolBytes` (status `modules.memory.bufferSlabBytes`).
 */
import { after, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { persistentPeerStore } from '@libp2p/peer-store'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { defaultLogger } from '@libp2p/logger'
import { MemoryDatastore } from 'datastore-core/memory'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import type { Peer, PeerId } from '@libp2p/interface'
import { bufferSlabBytes, NODE_DEFAULT_POOL_BYTES, setBufferPool } from '../../src/daemon/memory-buffer-pool.js'
import { fullCollector } from '../../src/daemon/memory-native.js'
import { skipRedundantPeerWrites } from '../../src/network/peer-store-writes.js'
import { cachePeerInfo } from '../../src/network/peer-info-cache.js'
import { runCli, startDaemon } from '../cli/helpers.js'

/** Bytes of the distinct slabs that 100 kept 34-byte Buffers hold, each cut among 40 short-lived ones. */
function keptSlabBytes (): number {
  const kept: Buffer[] = []
  for (let peer = 0; peer < 100; peer++) {
    for (let i = 0; i < 20; i++) Buffer.allocUnsafe(120).fill(i)
    kept.push(Buffer.allocUnsafe(34).fill(peer))
    for (let i = 0; i < 20; i++) Buffer.allocUnsafe(120).fill(i)
  }
  const slabs = new Set(kept.map(b => b.buffer))
  return [...slabs].reduce((n, ab) => n + ab.byteLength, 0)
}

describe('daemon memory: per-peer state', () => {
  after(() => { setBufferPool(NODE_DEFAULT_POOL_BYTES) })

  it('a 1-KiB Buffer pool: a kept small Buffer keeps at most 1 KiB, not an 8-KiB slab', () => {
    setBufferPool(NODE_DEFAULT_POOL_BYTES)
    assert.equal(bufferSlabBytes(), 8192)
    const big = keptSlabBytes()
    assert.equal(setBufferPool(1024), 8192)
    assert.equal(bufferSlabBytes(), 1024, 'the new slab size holds from the call on')
    const small = keptSlabBytes()
    assert.ok(small <= 100 * 1024, `kept slabs with a 1-KiB pool: ${small} bytes`)
    assert.ok(big >= 3 * small, `kept slabs: ${big} bytes with 8 KiB against ${small} with 1 KiB`)
    // what is no longer pooled (>= half the slab) gets its own exact-size allocation
    assert.equal(Buffer.allocUnsafe(600).buffer.byteLength, 600)
    assert.equal(Buffer.from('x'.repeat(700)).buffer.byteLength, 700)
    // 0: no pool at all
    setBufferPool(0)
    assert.equal(Buffer.allocUnsafe(34).buffer.byteLength, 34)
    // control: back to node's default, the 8-KiB slabs are back
    setBufferPool(NODE_DEFAULT_POOL_BYTES)
    assert.equal(keptSlabBytes(), big)
    assert.throws(() => setBufferPool(-1), RangeError)
  })

  it('peer-store caches drop expired records (collectable), and still skip within the window', async (t) => {
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const peers: PeerId[] = []
    for (let i = 0; i < 100; i++) peers.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    const datastore = new MemoryDatastore()
    const store = persistentPeerStore({ peerId: self, datastore, events: new TypedEventEmitter(), logger: defaultLogger() })
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 })
    t.after(() => { mock.timers.reset() })
    const writes = skipRedundantPeerWrites(store, { refreshMs: 60_000 })
    const reads = cachePeerInfo(store, { ttlMs: 5000 })
    const addr = (i: number): ReturnType<typeof multiaddr> => multiaddr(`/ip4/10.0.${i >> 8}.${i & 255}/tcp/4001`)
    const held: Array<WeakRef<Peer>> = []
    for (const [i, p] of peers.entries()) held.push(new WeakRef(await store.merge(p, { multiaddrs: [addr(i)], protocols: ['/p/1', '/p/2'] })))
    for (const p of peers) await store.getInfo(p)
    assert.equal(writes.remembered, 100)
    assert.equal(reads.cached, 100)
    // within the window: a redundant merge is answered from memory, a read from the cache
    const w0 = writes.written
    await store.merge(peers[0]!, { protocols: ['/p/1'] })
    assert.deepEqual([writes.written - w0, writes.skipped], [0, 1])
    const h0 = reads.hits
    await store.getInfo(peers[1]!)
    assert.equal(reads.hits - h0, 1)

    mock.timers.tick(60_000)
    // one more write and one more read: everything older goes
    await store.merge(peers[99]!, { protocols: ['/p/3'] })
    await store.getInfo(peers[99]!)
    assert.equal(writes.remembered, 1)
    assert.equal(reads.cached, 1)
    // a WeakRef keeps its target until the current job ends: back to the event loop first
    await new Promise(resolve => setImmediate(resolve))
    fullCollector()()
    const alive = held.slice(0, 99).filter(r => r.deref() != null).length
    assert.equal(alive, 0, `${alive} of 99 dropped records still reachable`)
    // after the window a redundant merge is written again (keeps the record's `updated` fresh)
    const w1 = writes.written
    await store.merge(peers[0]!, { protocols: ['/p/1'] })
    assert.equal(writes.written - w1, 1)
    assert.deepEqual((await store.get(peers[0]!)).protocols, ['/p/1', '/p/2'])
  })

  it('dmsnet up applies memory.bufferPoolBytes (default 1024)', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'dmsnet-pool-'))
    t.after(async () => { await rm(dir, { recursive: true, force: true }) })
    const slab = async (d: string): Promise<number | undefined> => {
      const r = await runCli(['--data-dir', d, 'status', '--json'])
      assert.equal(r.code, 0, r.stderr)
      return (JSON.parse(r.stdout) as { modules: { memory?: { bufferSlabBytes?: number } } }).modules.memory?.bufferSlabBytes
    }
    const args = (d: string): string[] => ['--data-dir', d, '--listen', '/ip4/127.0.0.1/tcp/0', '--metrics-port', '0']
    for (const [name, env, want] of [['default', {}, 1024], ['set', { DMSNET_MEMORY_BUFFER_POOL_BYTES: '4096' }, 4096]] as const) {
      const d = await startDaemon(args(join(dir, name)), { env: { DMSNET_UI_ENABLED: 'false', ...env } })
      try {
        assert.equal(await slab(join(dir, name)), want, name)
      } finally {
        assert.equal(await d.stop(), 0)
      }
    }
  })
})

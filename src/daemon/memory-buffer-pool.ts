/**
 * The size of Node's Buffer pool slab for `dmsnet up` (`memory.bufferPoolBytes`, default 1 KiB
 * instead of node's 8 KiB), applied by the memory module (memory-module.ts).
 *
 * Why: `Buffer.allocUnsafe(n)` and `Buffer.from(<string>)` for n under half the pool size cut the
 * Buffer from a shared slab (`uint8arrays`' `allocUnsafe` is `Buffer.allocUnsafe`, so most of
 * libp2p's small byte arrays come from it). A small Buffer that lives on keeps its whole slab:
 * a peer id's multihash digest, a connection's remote multiaddr, a Noise handshake's identity key,
 * kad-dht's XOR distances, encoded peer records. Heap snapshots of idle daemons (3 and 10 in a mesh,
 * stop 28) hold ~2 more whole 8-KiB slabs per added peer, ~17 kB a peer, for a few dozen live bytes
 * each; with a 1-KiB slab a kept Buffer keeps at most 1 KiB. What is no longer pooled (512 bytes or
 * more with a 1-KiB slab) gets its own exact-size allocation, ~1 µs more each, paid only by
 * small-to-medium Buffers (bulk frames are above node's 4-KiB limit and never pooled anyway).
 *
 * Node makes the next slab at the new size only when the current one is used up, so `setBufferPool`
 * uses it up at once (a few throw-away allocations): the size holds from the call on.
 */
import { Buffer } from 'node:buffer'

export const NODE_DEFAULT_POOL_BYTES = 8192

/**
 * Sets `Buffer.poolSize` to `bytes` (0: no pool, every Buffer its own allocation) and starts a new
 * slab of that size now. Returns the previous `Buffer.poolSize`.
 */
export function setBufferPool (bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`buffer pool size: a non-negative integer, not ${bytes}`)
  const previous = Buffer.poolSize
  const oldSlab = Buffer.allocUnsafe(1).buffer
  Buffer.poolSize = bytes
  const limit = bytes >>> 1
  if (limit <= 1) return previous // no pooling at all: nothing is cut from the old slab again
  // the old slab is left when an allocation under the new limit does not fit in what remains of it
  // (each round uses at least 8 bytes of it: node aligns the pool offset to 8)
  const rounds = Math.ceil(previous / 8) + 2
  for (let i = 0; i < rounds && Buffer.allocUnsafe(1).buffer === oldSlab; i++) Buffer.allocUnsafe(limit - 1)
  return previous
}

/** The slab a small Buffer is cut from now (its ArrayBuffer's size), for status and tests. */
export function bufferSlabBytes (): number {
  return Buffer.allocUnsafe(1).buffer.byteLength
}

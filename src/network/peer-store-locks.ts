/**
 * The peer store's per-peer read/write locks, without their cost (issue 10).
 *
 * Why: libp2p's peer store takes a lock around every read and write of a peer's record. Its locks
 * (mortice) build a lock per access and drop it after: two it-queue queues, a job, a promise
 * chain, an `AbortError` made in advance (with its stack trace) for a wait that is never aborted,
 * abort listeners, and two debounced 1-ms timers per queue. On this machine that was ~10 % of the
 * CPU of a DHT lookup round (bench census-refresh, profiled), and an idle node arms ~200 of those
 * timers a minute. Every DHT answer, identify, dial and stream touches the peer store.
 *
 * Here the same semantics, kept in a plain object per peer while it is in use: any number of
 * readers at once, one writer alone, first come first served (a reader that arrives while a writer
 * waits queues behind it, so writes are not starved), an aborted wait leaves the queue and rejects
 * with the signal's reason. Installed on the store instance libp2p created; if a future peer store
 * no longer has that shape, libp2p's own locks stay.
 */
import type { AbortOptions, PeerId } from '@libp2p/interface'

type Release = () => void

interface LockingStore {
  getReadLock(peerId: PeerId, options?: AbortOptions): Promise<Release>
  getWriteLock(peerId: PeerId, options?: AbortOptions): Promise<Release>
}

interface Waiter { write: boolean, grant: () => void }

interface PeerLock {
  readers: number
  writer: boolean
  queue: Waiter[]
}

export interface PeerStoreLocks {
  /** Peers with a lock held or waited for now. */
  active(): number
}

/** An AbortError like the one mortice rejects with, when the signal has no reason of its own. */
function abortReason (signal: AbortSignal): unknown {
  return signal.reason ?? Object.assign(new Error('The operation was aborted'), { name: 'AbortError' })
}

/**
 * Replaces `peerStore.store`'s lock methods in place; returns undefined (and changes nothing) when
 * the peer store does not have them.
 */
export function lightPeerStoreLocks (peerStore: object): PeerStoreLocks | undefined {
  const store = (peerStore as { store?: Partial<LockingStore> }).store
  if (store == null || typeof store.getReadLock !== 'function' || typeof store.getWriteLock !== 'function') return undefined
  const locks = new Map<string, PeerLock>()

  const drain = (key: string, lock: PeerLock): void => {
    while (lock.queue.length > 0 && !lock.writer) {
      const next = lock.queue[0]!
      if (next.write && lock.readers > 0) break
      lock.queue.shift()
      next.grant()
      if (next.write) break
    }
    if (lock.readers === 0 && !lock.writer && lock.queue.length === 0) locks.delete(key)
  }

  const acquire = async (peerId: PeerId, write: boolean, options?: AbortOptions): Promise<Release> => {
    const signal = options?.signal
    if (signal?.aborted === true) throw abortReason(signal)
    const key = peerId.toString()
    let lock = locks.get(key)
    if (lock == null) {
      lock = { readers: 0, writer: false, queue: [] }
      locks.set(key, lock)
    }
    const held = lock
    const take = (): Release => {
      if (write) held.writer = true
      else held.readers++
      let released = false
      return () => {
        if (released) return
        released = true
        if (write) held.writer = false
        else held.readers--
        drain(key, held)
      }
    }
    // free now (and nobody queued before us): no promise to wait on
    if (held.queue.length === 0 && !held.writer && (!write || held.readers === 0)) return take()
    return await new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        const i = held.queue.indexOf(waiter)
        if (i >= 0) held.queue.splice(i, 1)
        drain(key, held)
        reject(abortReason(signal!))
      }
      const waiter: Waiter = {
        write,
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve(take())
        }
      }
      held.queue.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  store.getReadLock = async (peerId, options) => await acquire(peerId, false, options)
  store.getWriteLock = async (peerId, options) => await acquire(peerId, true, options)
  return { active: () => locks.size }
}

/**
 * libp2p's random walk without one leaked abort listener (and the peer it delivered) per peer.
 *
 * Why (heap snapshots, stop 28): `RandomWalk.walk()` (libp2p 3.x, src/random-walk.ts) waits for
 * each peer with p-event's `pEvent(this, 'walk:peer', { signal })`. p-event (7.1) adds an 'abort'
 * listener to `signal` on every call and does not remove it when the event arrives; the listener's
 * closure keeps the delivered peer alive (~2 kB each). The signal lives as long as the consumer's
 * walk, and AutoNAT and circuit-relay discovery walk for as long as an address is unverified or no
 * relay is reserved (hours on a small network below the walk gate, docs/network.md), so the heap
 * grew by one listener per peer handed out for as long as the node ran.
 *
 * The replacement keeps `walk()`'s contract - the first consumer starts the shared walk, every
 * request for a peer resolves the walk's `needNext` pause, a `walk:error` is thrown to every
 * consumer, the walk stops when the last consumer leaves - and waits for each peer with listeners
 * it removes once the peer, the error or the abort came. If libp2p's internals move,
 * `fixWalkListeners` returns false and leaves the walk alone; test/network/walk-listeners.spec.ts
 * then fails, and its positive control fails once libp2p (or p-event) stops leaking.
 */
import type { AbortOptions, PeerInfo } from '@libp2p/interface'

interface Deferred { promise: Promise<void>, resolve: () => void, reject: (err: Error) => void }

/** The parts of libp2p's `RandomWalk` the replacement uses (all present in libp2p 3.x). */
export interface RandomWalkInternals {
  walking: boolean
  walkers: number
  needNext?: Deferred
  shutdownController: AbortController
  walkController?: AbortController
  startWalk: () => void
  addEventListener: (type: string, listener: (e: Event) => void) => void
  removeEventListener: (type: string, listener: (e: Event) => void) => void
  walk: (options?: AbortOptions) => AsyncGenerator<PeerInfo, void, undefined>
}

/** The next `walk:peer`; rejects with a `walk:error`'s error or an abort's reason. Leaves no listener behind. */
function nextPeer (walk: RandomWalkInternals, signals: AbortSignal[]): Promise<PeerInfo> {
  return new Promise<PeerInfo>((resolve, reject) => {
    const aborted = signals.find(s => s.aborted)
    if (aborted != null) { reject(aborted.reason); return }
    const done = (): void => {
      walk.removeEventListener('walk:peer', onPeer)
      walk.removeEventListener('walk:error', onError)
      for (const s of signals) s.removeEventListener('abort', onAbort)
    }
    const onPeer = (e: Event): void => { done(); resolve((e as CustomEvent<PeerInfo>).detail) }
    const onError = (e: Event): void => { done(); reject((e as CustomEvent<Error>).detail) }
    const onAbort = (): void => { done(); reject(signals.find(s => s.aborted)?.reason) }
    walk.addEventListener('walk:peer', onPeer)
    walk.addEventListener('walk:error', onError)
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true })
  })
}

function deferred (): Deferred {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/** The replacement `walk()`, bound to one RandomWalk. */
export function walkWithoutLeaks (walk: RandomWalkInternals): (options?: AbortOptions) => AsyncGenerator<PeerInfo, void, undefined> {
  return async function * (options?: AbortOptions) {
    if (!walk.walking) walk.startWalk()
    walk.walkers++
    // as libp2p: the shutdown signal of the moment this consumer started, and the consumer's own
    const signals = options?.signal != null ? [walk.shutdownController.signal, options.signal] : [walk.shutdownController.signal]
    try {
      while (true) {
        // a consumer asking for a peer lets a walk paused for a single consumer go on
        walk.needNext?.resolve()
        walk.needNext = deferred()
        yield await nextPeer(walk, signals)
      }
    } finally {
      walk.walkers--
      if (walk.walkers === 0) {
        walk.walkController?.abort()
        walk.walkController = undefined
      }
    }
  }
}

/** Installs the replacement on a built libp2p host's random walk; false when this libp2p has none to fix. */
export function fixWalkListeners (host: { components?: unknown }): boolean {
  let walk: Partial<RandomWalkInternals> | undefined
  try {
    walk = (host.components as { randomWalk?: Partial<RandomWalkInternals> } | undefined)?.randomWalk
  } catch {
    return false // the components proxy throws for a missing service
  }
  if (walk == null || typeof walk.walk !== 'function' || typeof walk.startWalk !== 'function' ||
    typeof walk.walkers !== 'number' || typeof walk.walking !== 'boolean' || walk.shutdownController == null) return false
  const fixed = walk as RandomWalkInternals
  fixed.walk = walkWithoutLeaks(fixed)
  return true
}

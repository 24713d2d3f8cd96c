/**
 * `createSerialQueue()`: runs async operations one after another, in call order. A failed
 * operation rejects its own caller only; the next one still runs. Used where multi-step changes
 * (a host switch, a swarm join, a VPN membership update) must never interleave.
 */
export interface SerialQueue {
  /** Runs `fn` after every operation queued before it has settled. */
  run: <T>(fn: () => Promise<T>) => Promise<T>
  /** Resolves once every operation queued so far has settled (never rejects). */
  idle: () => Promise<void>
}

export function createSerialQueue (): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve()
  return {
    run <T>(fn: () => Promise<T>): Promise<T> {
      const run = tail.then(fn, fn)
      tail = run.catch(() => {})
      return run
    },
    async idle () {
      await tail
    }
  }
}

/**
 * `onceRetry(make, refuse)`: makes a value once, on first use, for code loaded or built lazily (a
 * feature's module, a transport, a listener). Concurrent callers share the one attempt; a failed
 * attempt is not kept, so the next call tries again (a transient error must not disable the thing
 * for the process's life); after `stop()` no new attempt starts and callers get `refuse()`'s error,
 * while a value already made (or being made) is still handed out, so a caller that raced the stop
 * sees the same object the stopper is tearing down rather than a second one nobody stops.
 * Imports nothing from dmsnet: the caller supplies its own typed error.
 */
export interface OnceRetry<T, A extends unknown[]> {
  /** The value, made on the first call (with that call's arguments); shared by concurrent callers. */
  get: (...args: A) => Promise<T>
  /** The value once made; undefined before, and while an attempt is under way. */
  readonly value: T | undefined
  /** Whether `stop` was called. */
  readonly stopped: boolean
  /** No attempt starts after this; resolves to the value if one was made (an attempt under way is waited for). */
  stop: () => Promise<T | undefined>
}

export function onceRetry<T, A extends unknown[] = []> (make: (...args: A) => Promise<T>, refuse: () => Error): OnceRetry<T, A> {
  let value: T | undefined
  let attempt: Promise<T> | undefined
  let stopped = false
  return {
    get value () { return value },
    get stopped () { return stopped },
    async get (...args) {
      if (attempt == null) {
        if (stopped) throw refuse()
        attempt = make(...args).then(
          v => { value = v; return v },
          (err: unknown) => { attempt = undefined; throw err })
      }
      return await attempt
    },
    async stop () {
      stopped = true
      return await attempt?.catch(() => undefined)
    }
  }
}

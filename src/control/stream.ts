/**
 * Turns a push source (event listener, subscription callback) into the async iterable a streaming
 * control method yields. The buffer is bounded: a slow CLI loses the oldest items (counted in
 * `dropped`) rather than growing the daemon's memory without limit.
 *
 *   registry.registerStream('messaging.subscribe', {
 *     handler: (params, { signal }) => pushStream(signal, push => topic.onMessage(push))
 *   })
 */
export interface PushStreamOptions {
  /** Items kept while the consumer is slow. Default 1000. */
  maxBuffered?: number
}

export async function * pushStream<T> (
  signal: AbortSignal,
  subscribe: (push: (item: T) => void) => (() => void) | void,
  options: PushStreamOptions = {}
): AsyncGenerator<T, void, undefined> {
  const max = options.maxBuffered ?? 1000
  const buf: T[] = []
  let wake: (() => void) | undefined
  const push = (item: T): void => {
    buf.push(item)
    if (buf.length > max) buf.shift()
    wake?.()
  }
  const onAbort = (): void => { wake?.() }
  signal.addEventListener('abort', onAbort)
  const unsubscribe = subscribe(push)
  try {
    while (!signal.aborted) {
      if (buf.length === 0) {
        await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
        continue
      }
      yield buf.shift() as T
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    if (typeof unsubscribe === 'function') unsubscribe()
  }
}

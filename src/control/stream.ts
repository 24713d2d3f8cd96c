/**
 * Turns a push source (event listener, subscription callback) into the async iterable a streaming
 * control method yields. The buffer is bounded: a slow CLI loses the oldest items (counted in
 * `pushStreamStats.dropped`, process-wide, on /metrics as `dmsnet_control_stream_items{state="dropped"}`) rather
 * than growing the daemon's memory without limit.
 *
 *   registry.registerStream('messaging.subscribe', {
 *     handler: (params, { signal }) => pushStream(signal, push => topic.onMessage(push))
 *   })
 */
export interface PushStreamOptions {
  /** Items kept while the consumer is slow. Default 1000. */
  maxBuffered?: number
}

/** Process-wide counters of every push stream (a daemon is one node per process). */
export const pushStreamStats = {
  /** Items thrown away because a consumer fell more than `maxBuffered` behind. */
  dropped: 0,
  /** Items waiting for their consumer right now, all streams. */
  buffered: 0
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
    pushStreamStats.buffered++
    if (buf.length > max) {
      buf.shift()
      pushStreamStats.buffered--
      pushStreamStats.dropped++
    }
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
      pushStreamStats.buffered--
      yield buf.shift() as T
    }
  } finally {
    pushStreamStats.buffered -= buf.length
    buf.length = 0
    signal.removeEventListener('abort', onAbort)
    if (typeof unsubscribe === 'function') unsubscribe()
  }
}

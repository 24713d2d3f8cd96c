/**
 * Waiting until a libp2p stream takes data again, for writers that honour backpressure.
 *
 * `@libp2p/utils` 7.4.x's `stream.onDrain()` makes one promise, resolves it at the first 'drain'
 * and never makes another: every later call returns at once although the stream still needs
 * draining, so a send loop built on it only fills the stream's write buffer (upstream issue text in
 * docs/performance.md). This waits for the next 'drain' event itself, and fails on close or abort.
 */
import type { AbortOptions, Stream } from '@libp2p/interface'
import { AbortedError, DmsnetError, StreamClosedError, TimeoutError } from '../errors.js'

/** Resolves when `stream` can take more data (at once if it can now). */
export async function drained (stream: Stream, options?: AbortOptions): Promise<void> {
  if (!stream.writableNeedsDrain) return
  if (stream.writeStatus !== 'writable') throw new StreamClosedError(`stream is ${stream.writeStatus}, it will not drain`)
  const signal = options?.signal
  if (signal?.aborted === true) throw abortReason(signal)
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err != null) reject(err)
      else resolve()
    }
    const onDrain = (): void => { done() }
    const onClose = (evt: Event): void => {
      const cause = (evt as Event & { error?: Error }).error
      done(new StreamClosedError('stream closed while waiting for it to drain', { cause }))
    }
    const onAbort = (): void => { done(abortReason(signal!)) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

function abortReason (signal: AbortSignal): Error {
  const r: unknown = signal.reason
  if (r instanceof DmsnetError) return r
  if (r instanceof Error && r.name === 'TimeoutError') return new TimeoutError('timed out waiting for the stream to drain', { cause: r })
  return new AbortedError('aborted while waiting for the stream to drain', { cause: r })
}

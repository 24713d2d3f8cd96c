/**
 * One long-lived outbound messaging stream to one peer: frames go out with a request id, ACK /
 * RESPONSE / NACK frames come back on the same stream and settle the matching pending call.
 *
 * At most `maxInFlight` messages are unacknowledged at a time; further callers wait for credit
 * (nothing is buffered without bound), and a full transport write buffer is waited out with
 * `onDrain`. When the stream breaks, every pending call fails with `StreamClosedError`.
 */
import type { AbortOptions, Stream } from '@libp2p/interface'
import { AbortedError, DmsnetError, TimeoutError } from '../errors.js'
import { MessageRejectedError, NoHandlerError, StreamClosedError } from './errors.js'
import { FrameDecoder, FrameKind, FrameWriter, decodeNack, encodeFrame } from './framing.js'

interface Pending {
  resolve: (v: Uint8Array | undefined) => void
  reject: (err: Error) => void
}

export class OutboundChannel {
  private readonly pending = new Map<number, Pending>()
  private readonly waiters: Array<{ resolve: () => void, reject: (e: Error) => void }> = []
  private readonly decoder: FrameDecoder
  private readonly writer: FrameWriter
  private nextId = 1
  private inFlight = 0
  closed = false

  /** `compact`: the stream speaks /dmsnet/msg/2.0.0 (compact, connection-authenticated bodies allowed). */
  constructor (readonly peer: string, readonly stream: Stream, readonly compact: boolean, private readonly maxInFlight: number, maxFrame: number, private readonly onClose: (ch: OutboundChannel) => void) {
    this.decoder = new FrameDecoder(maxFrame)
    this.writer = new FrameWriter(stream)
    stream.addEventListener('message', (evt) => {
      try {
        for (const f of this.decoder.push(evt.data)) {
          if (f instanceof Error) continue
          const p = this.pending.get(f.id)
          if (p == null) continue // late answer to a call that timed out
          this.pending.delete(f.id)
          if (f.kind === FrameKind.Ack) p.resolve(undefined)
          else if (f.kind === FrameKind.Response) p.resolve(f.rest.slice())
          else if (f.kind === FrameKind.Nack) {
            const { reason, message } = decodeNack(f.rest)
            p.reject(reason === 'no-handler'
              ? new NoHandlerError(`remote has no handler: ${message}`)
              : new MessageRejectedError(`remote refused the message (${reason}): ${message}`, reason))
          }
        }
      } catch (err) {
        stream.abort(err as Error)
      }
    })
    stream.addEventListener('close', () => { this.shutdown(new StreamClosedError(`stream to ${peer} closed`)) })
  }

  get load (): number {
    return this.inFlight
  }

  get usable (): boolean {
    return !this.closed && this.stream.status === 'open' && this.stream.writeStatus === 'writable'
  }

  /**
   * Sends one message frame (`rest` = flags byte + body, in parts) and resolves with the
   * remote's answer (undefined for a plain ACK).
   */
  async call (rest: Uint8Array[], options: AbortOptions & { signal: AbortSignal }): Promise<Uint8Array | undefined> {
    await this.acquire(options.signal)
    const id = this.nextId
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1
    try {
      const answer = new Promise<Uint8Array | undefined>((resolve, reject) => {
        this.pending.set(id, { resolve, reject })
      })
      if (this.stream.writableNeedsDrain) await this.stream.onDrain({ signal: options.signal })
      if (this.closed) throw new StreamClosedError(`stream to ${this.peer} closed`)
      if (this.stream.writeStatus !== 'writable') throw new StreamClosedError(`stream to ${this.peer} is not writable`)
      this.writer.write(encodeFrame(FrameKind.Message, id, ...rest))
      return await abortable(answer, options.signal)
    } finally {
      this.pending.delete(id)
      this.release()
    }
  }

  shutdown (err: Error): void {
    if (this.closed) return
    this.closed = true
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    for (const w of this.waiters.splice(0)) w.reject(err)
    this.onClose(this)
  }

  private async acquire (signal: AbortSignal): Promise<void> {
    if (this.closed) throw new StreamClosedError(`stream to ${this.peer} closed`)
    if (this.inFlight < this.maxInFlight && this.waiters.length === 0) {
      this.inFlight++
      return
    }
    // release() hands its slot straight to the first waiter (inFlight unchanged), so no newcomer
    // can overtake a waiter and the bound is never exceeded.
    let waiter: { resolve: () => void, reject: (e: Error) => void } | undefined
    const granted = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject }
      this.waiters.push(waiter)
    })
    await abortable(granted, signal, () => {
      const i = this.waiters.indexOf(waiter!)
      if (i >= 0) this.waiters.splice(i, 1)
      else this.release() // granted just before the abort: give the slot on
    })
  }

  private release (): void {
    const w = this.waiters.shift()
    if (w != null) w.resolve()
    else this.inFlight--
  }
}

/** Races a promise against an abort signal, throwing the signal's reason as a typed error. */
export async function abortable<T> (p: Promise<T>, signal: AbortSignal, onAbort?: () => void): Promise<T> {
  if (signal.aborted) {
    onAbort?.()
    p.catch(() => {})
    throw abortError(signal)
  }
  let listener: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    listener = () => {
      onAbort?.()
      reject(abortError(signal))
    }
    signal.addEventListener('abort', listener, { once: true })
  })
  try {
    return await Promise.race([p, aborted])
  } finally {
    if (listener != null) signal.removeEventListener('abort', listener)
    p.catch(() => {})
  }
}

export function abortError (signal: AbortSignal): Error {
  const r: unknown = signal.reason
  if (r instanceof DmsnetError) return r
  if (r instanceof Error && r.name === 'TimeoutError') return new TimeoutError('operation timed out', { cause: r })
  return new AbortedError('operation aborted', { cause: r })
}

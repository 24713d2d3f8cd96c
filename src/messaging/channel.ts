/**
 * One long-lived outbound messaging stream to one peer: frames go out with a request id, ACK /
 * RESPONSE / NACK frames come back on the same stream and settle the matching pending call.
 *
 * At most `maxInFlight` messages are unacknowledged at a time; further callers wait for credit
 * (nothing is buffered without bound), and a full transport write buffer is waited out with
 * `onDrain`. When the stream breaks, every pending call fails with `StreamClosedError`.
 */
import type { Stream } from '@libp2p/interface'
import { AbortedError, DmsnetError, TimeoutError } from '../errors.js'
import { MessageRejectedError, NoHandlerError, StreamClosedError } from './errors.js'
import { FrameDecoder, FrameKind, FrameWriter, decodeNack, encodeFrame } from './framing.js'
import type { DropReason } from './types.js'
import { drained } from '../network/stream-drain.js'

interface Pending {
  resolve: (v: Uint8Array | undefined) => void
  reject: (err: Error) => void
}

interface Waiter {
  grant: () => void
  reject: (e: Error) => void
}

export interface CallOptions {
  signal?: AbortSignal
  /** Time for the whole call (waiting for credit included); `TimeoutError` after it. */
  timeoutMs: number
}

export class OutboundChannel {
  private readonly pending = new Map<number, Pending>()
  private readonly waiters: Waiter[] = []
  private readonly decoder: FrameDecoder
  private readonly writer: FrameWriter
  private nextId = 1
  private inFlight = 0
  closed = false

  /** `compact`: the stream speaks /dmsnet/msg/2.0.0 (compact, connection-authenticated bodies allowed). */
  constructor (readonly peer: string, readonly stream: Stream, readonly compact: boolean, private readonly maxInFlight: number, maxFrame: number, private readonly onClose: (ch: OutboundChannel) => void, onDrop: (reason: DropReason, detail: string) => void = () => {}) {
    this.decoder = new FrameDecoder(maxFrame)
    this.writer = new FrameWriter(stream)
    stream.addEventListener('message', (evt) => {
      try {
        for (const f of this.decoder.push(evt.data)) {
          if (f instanceof Error) {
            onDrop('undecodable', f.message)
            continue
          }
          const p = this.pending.get(f.id)
          if (p == null) {
            // a late answer to a call that timed out, or one we never made: counted, not kept
            onDrop('unsolicited', `answer frame ${f.id} matches no call in flight`)
            continue
          }
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
        onDrop('oversized', (err as Error).message)
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
   *
   * One promise and one plain timer per call: credit, drain, answer, timeout and abort all
   * settle it through `finish`. With credit at hand the frame is written before `call` returns,
   * so concurrent callers' frames leave in call order.
   */
  async call (rest: Uint8Array[], options: CallOptions): Promise<Uint8Array | undefined> {
    const { signal } = options
    if (signal?.aborted === true) throw abortError(signal)
    if (this.closed) throw new StreamClosedError(`stream to ${this.peer} closed`)
    return await new Promise<Uint8Array | undefined>((resolve, reject) => {
      let id = 0
      let done = false
      let holdsCredit = false
      let waiter: Waiter | undefined
      const finish = (err: Error | undefined, value?: Uint8Array): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (id !== 0) this.pending.delete(id)
        if (holdsCredit) this.release()
        else if (waiter != null) {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
        }
        if (err != null) reject(err)
        else resolve(value)
      }
      const onAbort = (): void => { finish(abortError(signal!)) }
      const timer = setTimeout(() => { finish(new TimeoutError('operation timed out')) }, options.timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      const write = (): void => {
        if (done) return
        if (this.closed) { finish(new StreamClosedError(`stream to ${this.peer} closed`)); return }
        if (this.stream.writeStatus !== 'writable') { finish(new StreamClosedError(`stream to ${this.peer} is not writable`)); return }
        this.writer.write(encodeFrame(FrameKind.Message, id, ...rest))
      }
      const send = (): void => {
        holdsCredit = true
        if (done) { this.release(); holdsCredit = false; return }
        id = this.nextId
        this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1
        this.pending.set(id, { resolve: (v) => { finish(undefined, v) }, reject: finish })
        if (this.stream.writableNeedsDrain) drained(this.stream).then(write, finish)
        else write()
      }
      // release() hands its slot straight to the first waiter (inFlight unchanged), so no
      // newcomer can overtake a waiter and the bound is never exceeded.
      if (this.inFlight < this.maxInFlight && this.waiters.length === 0) {
        this.inFlight++
        send()
      } else {
        waiter = { grant: send, reject: finish }
        this.waiters.push(waiter)
      }
    })
  }

  shutdown (err: Error): void {
    if (this.closed) return
    this.closed = true
    for (const p of [...this.pending.values()]) p.reject(err)
    this.pending.clear()
    for (const w of this.waiters.splice(0)) w.reject(err)
    this.onClose(this)
  }

  private release (): void {
    const w = this.waiters.shift()
    if (w != null) w.grant()
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

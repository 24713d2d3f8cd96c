/**
 * Framing on a messaging stream: `u32 big-endian length || body`, body = `kind u8 || id u32 || rest`.
 *
 * The decoder checks the declared length against the limit *before* buffering or allocating
 * anything for the frame, so a hostile length prefix costs four bytes, not a gigabyte. A frame
 * that is too large breaks the framing for good (we cannot trust where the next one starts): the
 * caller must reset the stream. A frame too short for its header is skipped and reported.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { MessageTooLargeError } from './errors.js'

export const FrameKind = {
  /** A signed envelope; answered by ACK, RESPONSE or NACK with the same id. */
  Message: 1,
  /** The message was verified and its handler accepted it. */
  Ack: 2,
  /** The handler's return value (request/response). */
  Response: 3,
  /** The message was refused; rest = UTF-8 `reason\nmessage`. */
  Nack: 4
} as const
export type FrameKind = typeof FrameKind[keyof typeof FrameKind]

/**
 * Flag bits of a Message frame (first byte of rest). `Signed` only means something on
 * `/dmsnet/msg/2.0.0` (the rest is a signed envelope, not a compact body); on 1.0.0 every message
 * is a signed envelope and other bits are ignored.
 */
export const MessageFlags = { WantResponse: 1, Signed: 2 } as const

export const FRAME_HEADER = 5
const LENGTH_PREFIX = 4

export interface Frame {
  kind: number
  id: number
  /** Everything after the header (a subarray of the received bytes, no copy). */
  rest: Uint8Array
}

export function encodeFrame (kind: FrameKind, id: number, ...parts: Uint8Array[]): Uint8Array {
  let len = FRAME_HEADER
  for (const p of parts) len += p.byteLength
  const out = new Uint8Array(LENGTH_PREFIX + len)
  const view = new DataView(out.buffer)
  view.setUint32(0, len)
  out[4] = kind
  view.setUint32(5, id >>> 0)
  let off = LENGTH_PREFIX + FRAME_HEADER
  for (const p of parts) {
    out.set(p, off)
    off += p.byteLength
  }
  return out
}

export function encodeNack (id: number, reason: string, message: string): Uint8Array {
  return encodeFrame(FrameKind.Nack, id, new TextEncoder().encode(`${reason}\n${message.slice(0, 512)}`))
}

export function decodeNack (rest: Uint8Array): { reason: string, message: string } {
  const s = new TextDecoder().decode(rest)
  const i = s.indexOf('\n')
  return i < 0 ? { reason: s, message: '' } : { reason: s.slice(0, i), message: s.slice(i + 1) }
}

/** Frame too short to hold its own header: skipped, the stream goes on. */
export class ShortFrameError extends Error {
  static override name = 'ShortFrameError'
}

export class FrameDecoder {
  private readonly buf = new Uint8ArrayList()
  constructor (private readonly maxFrame: number) {}

  /**
   * Adds received bytes; returns the complete frames (and short frames as `ShortFrameError`
   * entries). Throws `MessageTooLargeError` when a length prefix passes the limit.
   */
  push (chunk: Uint8Array | Uint8ArrayList): Array<Frame | ShortFrameError> {
    this.buf.append(chunk)
    const out: Array<Frame | ShortFrameError> = []
    while (this.buf.byteLength >= LENGTH_PREFIX) {
      const len = this.buf.getUint32(0)
      if (len > this.maxFrame) throw new MessageTooLargeError(`frame of ${len} bytes exceeds ${this.maxFrame}`)
      if (this.buf.byteLength < LENGTH_PREFIX + len) break
      if (len < FRAME_HEADER) {
        this.buf.consume(LENGTH_PREFIX + len)
        out.push(new ShortFrameError(`frame of ${len} bytes`))
        continue
      }
      const body = this.buf.subarray(LENGTH_PREFIX, LENGTH_PREFIX + len)
      this.buf.consume(LENGTH_PREFIX + len)
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
      out.push({ kind: body[0] as number, id: view.getUint32(1), rest: body.subarray(FRAME_HEADER) })
    }
    return out
  }

  get buffered (): number {
    return this.buf.byteLength
  }
}

/**
 * Coalesces frames written within one event-loop turn into few stream writes: frames written
 * by the same synchronous run (e.g. the acks of every message in one received chunk) leave
 * together at its end (a microtask, no added latency for a lone request); later ones in the same
 * turn wait for the next turn and leave together: one yamux frame and one noise record instead
 * of one per small message.
 */
export class FrameWriter {
  private queue: Uint8Array[] = []
  private queued = 0
  private window = false

  constructor (private readonly stream: { send: (data: Uint8Array | Uint8ArrayList) => boolean, abort: (err: Error) => void }, private readonly maxBatch = 256 * 1024) {}

  write (frame: Uint8Array): void {
    this.queue.push(frame)
    this.queued += frame.byteLength
    if (!this.window) {
      this.window = true
      queueMicrotask(() => {
        this.drainQueue()
        setImmediate(() => { this.flush() })
      })
      return
    }
    if (this.queued >= this.maxBatch) this.drainQueue()
  }

  private flush (): void {
    this.drainQueue()
    this.window = false
  }

  private drainQueue (): void {
    if (this.queue.length === 0) return
    const q = this.queue
    this.queue = []
    this.queued = 0
    this.send(q.length === 1 ? q[0] as Uint8Array : new Uint8ArrayList(...q))
  }

  private send (data: Uint8Array | Uint8ArrayList): void {
    try {
      this.stream.send(data)
    } catch (err) {
      // the stream is closing or broken: its close event fails whatever is in flight
      try { this.stream.abort(err as Error) } catch { /* already gone */ }
    }
  }
}

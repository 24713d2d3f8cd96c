/**
 * yamux with a large receive window that stays interoperable.
 *
 * The yamux spec fixes every stream's initial window at 256 KiB; a peer that wants more announces
 * it with a window update (go-yamux does this). js-yamux's `initialStreamWindowSize` instead
 * assumes the *peer* uses the same value and sends that much before any update: a dmsnet node
 * with 16 MiB would overrun a standard peer (go-libp2p, or js-libp2p with defaults) and the peer
 * kills the whole connection with `ReceiveWindowExceededError` as soon as one write exceeds
 * 256 KiB.
 *
 * So the muxer is created spec-compliant (256 KiB both ways) and each new stream then announces
 * its larger receive window in its first window update (the SYN of an outbound stream, an early
 * ACK of an inbound one). Peers that do the same, i.e. other dmsnet nodes, get the full window
 * after one frame; everybody else sees a valid window update. If js-yamux's internals ever change
 * so the stream cannot be adjusted, streams simply keep the spec window (slower, still correct).
 */
import { yamux } from '@libp2p/yamux'
import type { StreamMuxer, StreamMuxerFactory, Stream } from '@libp2p/interface'

/** The window every yamux stream starts with, by the spec. */
export const YAMUX_SPEC_WINDOW = 256 * 1024

export interface WindowedYamuxInit {
  /** Receive window to announce on each new stream (>= 256 KiB). */
  receiveWindow: number
  /** Ceiling for yamux's own window auto-tuning (>= receiveWindow). */
  maxStreamWindowSize: number
  keepAliveInterval: number
  /** Per-stream read buffer limit; must hold at least one full window. */
  maxReadBufferLength: number
  /**
   * Largest data frame to send. js-yamux sends frames as large as the peer's window (up to
   * 16 MiB here); the receiver can only use a frame once all of it has arrived, so huge frames
   * stall the pipeline. 0 = no cap.
   */
  maxFrameSize?: number
}

interface YamuxStreamInternals {
  recvWindow: number
  recvWindowCapacity: number
  direction: 'inbound' | 'outbound'
  sendWindowUpdate(): void
}

interface YamuxMuxerInternals {
  _newStream(...args: unknown[]): Stream
}

function isAdjustable (s: unknown): s is YamuxStreamInternals {
  const x = s as Partial<YamuxStreamInternals>
  return typeof x.recvWindow === 'number' && typeof x.recvWindowCapacity === 'number' && typeof x.sendWindowUpdate === 'function'
}

/** Keeps a stream's outgoing frames at or below `cap` bytes (js-yamux resets the size on every window update). */
function capFrames (stream: Stream, cap: number): void {
  const s = stream as unknown as { maxMessageSize?: number }
  if (typeof s.maxMessageSize !== 'number') return
  let value = Math.min(s.maxMessageSize, cap)
  Object.defineProperty(stream, 'maxMessageSize', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (v: number) => { value = Math.min(v, cap) }
  })
}

/**
 * Raises the receive window of every stream the muxer creates, and caps its frame size; returns
 * false if it could not hook in.
 */
export function widenReceiveWindows (muxer: StreamMuxer, receiveWindow: number, maxFrameSize = 0): boolean {
  const m = muxer as unknown as Partial<YamuxMuxerInternals>
  const original = m._newStream
  if (typeof original !== 'function') return false
  if (receiveWindow <= YAMUX_SPEC_WINDOW && maxFrameSize <= 0) return false
  m._newStream = function (this: YamuxMuxerInternals, ...args: unknown[]): Stream {
    const stream = original.apply(this, args)
    if (maxFrameSize > 0) capFrames(stream, maxFrameSize)
    if (receiveWindow > YAMUX_SPEC_WINDOW && isAdjustable(stream) && stream.recvWindow === YAMUX_SPEC_WINDOW && stream.recvWindowCapacity === YAMUX_SPEC_WINDOW) {
      // the next window update sends (receiveWindow - 256 KiB) as credit
      stream.recvWindow = receiveWindow
      if (stream.direction === 'inbound') {
        // outbound streams announce with their SYN; for inbound ones send the ACK now instead of
        // waiting for the first data frame, so the sender gets the credit one round trip earlier
        queueMicrotask(() => {
          try {
            stream.sendWindowUpdate()
          } catch {
            // stream already closed
          }
        })
      }
    }
    return stream
  }
  return true
}

/** yamux factory for the libp2p `streamMuxers` list, with widened receive windows. */
export function windowedYamux (init: WindowedYamuxInit): () => StreamMuxerFactory {
  const inner = yamux({
    enableKeepAlive: true, // the RTT it measures drives yamux's window auto-tuning
    keepAliveInterval: init.keepAliveInterval,
    streamOptions: {
      initialStreamWindowSize: YAMUX_SPEC_WINDOW,
      maxStreamWindowSize: Math.max(init.maxStreamWindowSize, init.receiveWindow),
      maxReadBufferLength: init.maxReadBufferLength
    }
  })
  return () => {
    const factory = inner()
    const create = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (maConn) => {
      const muxer = create(maConn)
      widenReceiveWindows(muxer, init.receiveWindow, init.maxFrameSize)
      return muxer
    }
    return factory
  }
}

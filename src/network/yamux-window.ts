/**
 * yamux receive windows that grow only for streams that need them, under a memory budget, and
 * that stay interoperable with stock yamux peers.
 *
 * Wire compatibility: the yamux spec fixes every stream's initial window at 256 KiB; a peer that
 * wants more announces it with a window update (go-yamux does this). js-yamux's
 * `initialStreamWindowSize` instead assumes the *peer* uses the same value and sends that much
 * before any update: a node configured with 16 MiB would overrun a standard peer (go-libp2p, or
 * js-libp2p with defaults), which kills the whole connection with `ReceiveWindowExceededError`.
 * So the muxer is created spec-compliant (256 KiB both ways) and windows only ever grow through
 * window updates, which every peer accepts.
 *
 * Memory (issue 12): a receive window is memory the peer may fill without asking. Stock js-yamux
 * returns credit as soon as a frame *arrives*, read or not, so a stream nobody reads keeps taking
 * data until its read buffer limit resets it; and the old dmsnet code granted every stream 16 MiB
 * up front (up to 1000 streams per connection). Here, per stream:
 *  - credit is returned only for bytes the application has taken from the stream: unread bytes
 *    still count against the window, so a stalled stream holds at most its window;
 *  - the window starts at the spec's 256 KiB and doubles (up to `maxStreamWindowSize`) only while
 *    the reader keeps up (nothing unread) and either the peer used at least 3/4 of its credit
 *    (the window is the bottleneck) or the stream moved two windows' worth since it last grew (a
 *    bulk stream). A bulk stream reaches 16 MiB after ~32 MiB; request/response streams whose
 *    messages stay under 512 KiB keep 256 KiB;
 *  - growth beyond the spec window comes from a per-connection and a per-node pool
 *    (window-budget.ts) and goes back when the stream closes; an empty pool just means no growth.
 * If js-yamux's internals ever change so a stream cannot be adjusted, streams keep stock
 * behaviour (spec window, credit on arrival); test/network/yamux-window.spec.ts then fails.
 */
import { yamux } from '@libp2p/yamux'
import { createWindowBudget, type ConnectionWindowPool, type WindowBudget, type WindowBudgetStats } from './window-budget.js'
import type { StreamMuxer, StreamMuxerFactory, Stream } from '@libp2p/interface'

/** The window every yamux stream starts with, by the spec. */
export const YAMUX_SPEC_WINDOW = 256 * 1024

/**
 * Credit is returned once this fraction of the window has been consumed (stock js-yamux: after
 * every frame; go-yamux: half the window). `DMSNET_YAMUX_UPDATE_FRACTION=0` restores per-frame
 * updates, for before/after benchmarks.
 */
const updateFraction = ((): number => {
  const v = Number(process.env.DMSNET_YAMUX_UPDATE_FRACTION ?? '0.25')
  return Number.isFinite(v) && v >= 0 && v <= 0.5 ? v : 0.25
})()

/** yamux frame type and stream state numbers (the yamux spec / js-yamux's StreamState). */
const FRAME_WINDOW_UPDATE = 1
const STATE_PAUSED = 5

export interface WindowedYamuxInit {
  /** Window each new stream announces at once (>= 256 KiB; more is taken from the budget). */
  receiveWindow: number
  /** Ceiling of a stream's window growth (>= receiveWindow). */
  maxStreamWindowSize: number
  /** yamux's own ping (no timeout, only traffic), ms; 0 = off. */
  keepAliveInterval: number
  /** Per-stream read buffer limit; must hold at least one full window. */
  maxReadBufferLength: number
  /**
   * Largest data frame to send. js-yamux sends frames as large as the peer's window (up to
   * 16 MiB here); the receiver can only use a frame once all of it has arrived, so huge frames
   * stall the pipeline. 0 = no cap.
   */
  maxFrameSize?: number
  /** Extra window (beyond 256 KiB per stream) one connection's streams may hold. Default: unlimited. */
  connectionWindowBudget?: number
  /** Extra window all streams of the node may hold. Default: unlimited. */
  globalWindowBudget?: number
  /** Streams a peer may open on one connection (js-yamux's own default is 1000). */
  maxInboundStreams?: number
}

interface YamuxStreamInternals {
  streamId: number
  state: number
  recvWindow: number
  recvWindowCapacity: number
  epochStart: number
  direction: 'inbound' | 'outbound'
  readBufferLength: number
  remoteWriteStatus: string
  sendWindowUpdate(): void
  getSendFlags(): number
  sendFrame(header: { type: number, flag: number, streamID: number, length: number }): boolean
  dispatchReadBuffer(): void
  addEventListener(type: 'close', fn: () => void, opts?: { once: boolean }): void
}

interface YamuxMuxerInternals {
  _newStream(...args: unknown[]): Stream
}

function isAdjustable (s: unknown): s is YamuxStreamInternals {
  const x = s as Partial<YamuxStreamInternals>
  return typeof x.recvWindow === 'number' && typeof x.recvWindowCapacity === 'number' && typeof x.streamId === 'number' &&
    typeof x.state === 'number' && typeof x.readBufferLength === 'number' && typeof x.sendWindowUpdate === 'function' &&
    typeof x.getSendFlags === 'function' && typeof x.sendFrame === 'function' && typeof x.dispatchReadBuffer === 'function'
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

/** Replaces the stream's window logic with the budgeted, credit-on-consumption one described above. */
function manageWindow (s: YamuxStreamInternals, pool: ConnectionWindowPool, initial: number, max: number): void {
  let extra = 0
  /** Bytes credited back since the window last grew. */
  let consumed = 0
  const grow = (want: number): void => {
    const got = pool.grow(Math.min(want, max - s.recvWindow))
    if (got <= 0) return
    if (extra === 0) pool.widened()
    extra += got
    s.recvWindow += got
  }
  s.sendWindowUpdate = function (): void {
    if (s.state === STATE_PAUSED) {
      s.epochStart = Date.now()
      return
    }
    const flags = s.getSendFlags()
    const unread = s.readBufferLength
    const target0 = s.recvWindow - unread
    // credit goes back in steps of a quarter window, not after every frame: each update is a
    // frame of its own through Noise and TCP on both ends. The peer still holds >= 3/4 of the
    // window's credit minus what is unread, so it never waits on a held-back update.
    if (flags === 0 && target0 - s.recvWindowCapacity < s.recvWindow * updateFraction) return
    if (target0 > s.recvWindowCapacity) consumed += target0 - s.recvWindowCapacity
    // the reader keeps up (nothing unread) and either the peer spent most of its credit (the
    // window is the bottleneck) or the stream moved two windows' worth since it last grew (a
    // bulk stream; on a fast link credit returns before the window ever runs dry)
    if (flags === 0 && unread === 0 && s.recvWindow < max && (s.recvWindowCapacity <= s.recvWindow / 4 || consumed >= 2 * s.recvWindow)) {
      grow(s.recvWindow)
      consumed = 0
    }
    const target = s.recvWindow - unread
    if (s.recvWindowCapacity >= target && flags === 0) return
    const delta = Math.max(0, target - s.recvWindowCapacity)
    s.recvWindowCapacity += delta
    s.epochStart = Date.now()
    s.sendFrame({ type: FRAME_WINDOW_UPDATE, flag: flags, streamID: s.streamId, length: delta })
    if (flags === 0) pool.credited()
  }
  const dispatch = s.dispatchReadBuffer.bind(s)
  s.dispatchReadBuffer = function (): void {
    const before = s.readBufferLength
    dispatch()
    // the application took bytes: return their credit (unless the peer is done sending anyway)
    if (s.readBufferLength < before && s.remoteWriteStatus === 'writable') s.sendWindowUpdate()
  }
  s.addEventListener('close', () => {
    if (extra > 0) {
      pool.release(extra)
      pool.narrowed()
      extra = 0
    }
  }, { once: true })
  if (initial > YAMUX_SPEC_WINDOW) {
    grow(initial - YAMUX_SPEC_WINDOW)
    if (extra > 0 && s.direction === 'inbound') {
      // outbound streams announce with their SYN; for inbound ones send the ACK now instead of
      // waiting for the first data frame, so the sender gets the credit one round trip earlier
      queueMicrotask(() => {
        try {
          s.sendWindowUpdate()
        } catch {
          // stream already closed
        }
      })
    }
  }
}

/**
 * Installs the window management (and the frame cap) on every stream the muxer creates; returns
 * false if it could not hook in.
 */
export function manageReceiveWindows (muxer: StreamMuxer, pool: ConnectionWindowPool, init: { receiveWindow: number, maxStreamWindowSize: number, maxFrameSize?: number }): boolean {
  const m = muxer as unknown as Partial<YamuxMuxerInternals>
  const original = m._newStream
  if (typeof original !== 'function') return false
  const max = Math.max(init.maxStreamWindowSize, init.receiveWindow, YAMUX_SPEC_WINDOW)
  m._newStream = function (this: YamuxMuxerInternals, ...args: unknown[]): Stream {
    const stream = original.apply(this, args)
    if ((init.maxFrameSize ?? 0) > 0) capFrames(stream, init.maxFrameSize!)
    if (isAdjustable(stream) && stream.recvWindow === YAMUX_SPEC_WINDOW && stream.recvWindowCapacity === YAMUX_SPEC_WINDOW) {
      manageWindow(stream, pool, init.receiveWindow, max)
    }
    return stream
  }
  return true
}

export interface WindowedYamux {
  (components?: unknown): StreamMuxerFactory
  /** The node's window budget counters. */
  readonly windowStats: WindowBudgetStats
}

interface MetricsLike {
  registerMetricGroup?(name: string, options: { help?: string, calculate: () => Record<string, number> }): unknown
}

/** yamux factory for the libp2p `streamMuxers` list, with managed receive windows. */
export function windowedYamux (init: WindowedYamuxInit): WindowedYamux {
  const max = Math.max(init.maxStreamWindowSize, init.receiveWindow)
  const inner = yamux({
    // 0: off (the connection pings of ./connection-pings.ts already ping every muxer)
    enableKeepAlive: init.keepAliveInterval > 0,
    ...(init.keepAliveInterval > 0 ? { keepAliveInterval: init.keepAliveInterval } : {}),
    ...(init.maxInboundStreams != null ? { maxInboundStreams: init.maxInboundStreams } : {}),
    streamOptions: {
      initialStreamWindowSize: YAMUX_SPEC_WINDOW,
      maxStreamWindowSize: max,
      maxReadBufferLength: init.maxReadBufferLength
    }
  })
  const budget: WindowBudget = createWindowBudget({
    perConnection: init.connectionWindowBudget ?? Number.MAX_SAFE_INTEGER,
    global: init.globalWindowBudget ?? Number.MAX_SAFE_INTEGER
  })
  const make = (components?: unknown): StreamMuxerFactory => {
    const metrics = (components as { metrics?: MetricsLike } | undefined)?.metrics
    metrics?.registerMetricGroup?.('dmsnet_yamux_window', {
      help: 'yamux receive windows beyond the spec 256 KiB: granted bytes, widened streams, growth steps granted and refused by the budget',
      calculate: () => ({ granted_bytes: budget.stats.grantedBytes, widened_streams: budget.stats.widenedStreams, grants: budget.stats.grants, refusals: budget.stats.refusals, credit_updates: budget.stats.creditUpdates })
    })
    const factory = inner()
    const create = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (maConn) => {
      const muxer = create(maConn)
      manageReceiveWindows(muxer, budget.forConnection(), { receiveWindow: init.receiveWindow, maxStreamWindowSize: max, maxFrameSize: init.maxFrameSize })
      return muxer
    }
    return factory
  }
  return Object.assign(make, { windowStats: budget.stats })
}

/**
 * One member's tunnel: the long-lived stream to that peer, its single ordered writer with a
 * bounded queue (drop-tail, counted), and the reassembler of what the peer sends.
 *
 * Writes go straight to `stream.send` while the stream accepts them; once `send` returns false we
 * queue (up to `maxQueueBytes`) until the stream drains, and past the bound we drop new packets
 * (the inner TCP slows down; unbounded buffering would only add latency). Without a stream the
 * same bounded queue holds packets until one is attached.
 */
import type { Stream } from '@libp2p/interface'
import { InvalidBatchError } from '../netdev/errors.js'
import { MAX_RECORD_PAYLOAD, RecordReassembler } from '../netdev/records.js'
import { InvalidFrameError } from './errors.js'
import type { LinkStats } from './types.js'

export interface LinkOptions {
  peerId: string
  maxQueueBytes: number
  /** Smallest valid payload (an IPv4 header, plus the vnet header when on). */
  minPayload: number
  /** Called with a run of whole records received from the peer; the run is valid only during the call (copy to keep it). */
  onRecords: (link: PeerLink, run: Uint8Array) => void
  /** Called when the stream ends or fails (the owner may redial). */
  onStreamClosed: (link: PeerLink, stream: Stream) => void
  /** Called when a drain brought the queue below a quarter of its bound. */
  onDrained?: (link: PeerLink) => void
}

export function emptyStats (): LinkStats {
  return { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, dropQueueFull: 0, dropSpoofed: 0, dropNotForUs: 0, dropMalformed: 0, dropBadOffload: 0, streamsOpened: 0, sendStalls: 0, sendStalledMs: 0 }
}

export class PeerLink {
  readonly peerId: string
  readonly stats: LinkStats = emptyStats()
  stream: Stream | undefined
  /** Whether the current stream runs over a limited (relayed) connection. */
  relayed = false
  /** Whether the current stream was opened by the designated dialer (smaller peer id). */
  private preferred = false
  private readonly queue: Uint8Array[] = []
  private queuedPackets: number[] = []
  queuedBytes = 0
  private blocked = false
  private readonly options: LinkOptions
  private reassembler: RecordReassembler
  private closed = false
  /** sendStalledMs before rounding (the stats hold whole ms, like every other counter) */
  private stalledMs = 0
  /** Hands a reassembled run to the owner (bound once: it is called per run). */
  private readonly deliver = (run: Uint8Array): void => { this.options.onRecords(this, run) }

  constructor (options: LinkOptions) {
    this.peerId = options.peerId
    this.options = options
    this.reassembler = new RecordReassembler({ min: options.minPayload, max: MAX_RECORD_PAYLOAD })
  }

  /** Queues (or sends) a run of whole records holding `packets` packets. */
  send (run: Uint8Array, packets: number): void {
    if (this.closed) return
    const stream = this.usableStream()
    if (stream != null && !this.blocked && this.queue.length === 0 && this.write(stream, run, packets)) return
    if (this.queuedBytes + run.byteLength > this.options.maxQueueBytes) {
      this.stats.dropQueueFull += packets
      return
    }
    this.queue.push(run)
    this.queuedPackets.push(packets)
    this.queuedBytes += run.byteLength
  }

  /**
   * Makes `stream` the tunnel to this peer. `preferred` marks a stream opened by the member with
   * the smaller peer id (the designated dialer): a live preferred stream is never replaced by a
   * fallback one, so two members dialling at once settle on one stream. Returns false when the
   * stream was refused.
   */
  attach (stream: Stream, relayed: boolean, preferred = true): boolean {
    if (this.closed) {
      stream.abort(new Error('link closed'))
      return false
    }
    const old = this.stream
    if (old != null && old !== stream && !preferred && this.preferred && old.writeStatus === 'writable') {
      stream.abort(new Error('a tunnel stream from the designated dialer is already open'))
      return false
    }
    this.preferred = preferred
    this.stream = stream
    this.relayed = relayed
    this.blocked = false
    this.stats.streamsOpened++
    this.reassembler = new RecordReassembler({ min: this.options.minPayload, max: MAX_RECORD_PAYLOAD })
    if (old != null && old !== stream) old.abort(new Error('replaced by a newer tunnel stream'))

    const reassembler = this.reassembler
    stream.addEventListener('message', (evt) => {
      if (this.stream !== stream) {
        // a replaced or dropped stream the peer keeps writing to: stop reading it
        if (this.closed) stream.abort(new Error('vpn link closed'))
        return
      }
      try {
        // chunk by chunk, straight to the TUN: no concatenation of the stream's chunks and no
        // buffer per record (onRecords writes each run synchronously, so views may be reused)
        reassembler.pushEach(evt.data, this.deliver)
      } catch (err) {
        if (err instanceof InvalidBatchError) {
          this.stats.dropMalformed++
          stream.abort(new InvalidFrameError(`tunnel stream: ${err.message}`, { cause: err }))
          return
        }
        throw err
      }
    })
    stream.addEventListener('close', () => {
      if (this.stream === stream) {
        this.stream = undefined
        this.options.onStreamClosed(this, stream)
      }
    })
    this.flush()
    return true
  }

  /**
   * Drops the stream: closed gracefully when the VPN stops, aborted (`abort`) when the peer was
   * removed, so that nothing more of what it sends is read.
   */
  close (abort = false): void {
    this.closed = true
    this.queue.length = 0
    this.queuedPackets = []
    this.queuedBytes = 0
    const s = this.stream
    this.stream = undefined
    if (s == null) return
    if (abort) s.abort(new Error('no longer a member of this VPN'))
    else s.close().catch(() => { s.abort(new Error('vpn link closed')) })
  }

  private waitDrain (stream: Stream): void {
    this.blocked = true
    this.stats.sendStalls = (this.stats.sendStalls ?? 0) + 1
    const t0 = performance.now()
    stream.addEventListener('drain', () => {
      // time the stream refused more (its buffer past yamux's window or the socket's): bench vpn per phase
      this.stalledMs += performance.now() - t0
      this.stats.sendStalledMs = Math.round(this.stalledMs)
      if (this.stream !== stream) return
      this.blocked = false
      this.flush()
    }, { once: true })
  }

  /** The attached stream if it can still be written; a dead one is detached (and redialled). */
  private usableStream (): Stream | undefined {
    const stream = this.stream
    if (stream == null) return undefined
    if (stream.writeStatus === 'writable') return stream
    this.detach(stream, new Error(`tunnel stream is ${stream.writeStatus}`))
    return undefined
  }

  private detach (stream: Stream, err: Error): void {
    if (this.stream !== stream) return
    this.stream = undefined
    this.blocked = false
    stream.abort(err)
    this.options.onStreamClosed(this, stream)
  }

  /** Sends one run; false when the stream failed (the run was not sent). */
  private write (stream: Stream, run: Uint8Array, packets: number): boolean {
    let ok: boolean
    try {
      ok = stream.send(run)
    } catch (err) {
      this.detach(stream, err as Error)
      return false
    }
    this.stats.txPackets += packets
    this.stats.txBytes += run.byteLength
    if (!ok) this.waitDrain(stream)
    return true
  }

  /** Whether the queue is past half its bound (the owner should stop reading for a moment). */
  get congested (): boolean {
    return this.queuedBytes >= this.options.maxQueueBytes / 2
  }

  private flush (): void {
    for (;;) {
      const stream = this.usableStream()
      if (stream == null || this.blocked || this.queue.length === 0) {
        if (this.queuedBytes <= this.options.maxQueueBytes / 4) this.options.onDrained?.(this)
        return
      }
      const run = this.queue[0]!
      if (!this.write(stream, run, this.queuedPackets[0]!)) return
      this.queue.shift()
      this.queuedPackets.shift()
      this.queuedBytes -= run.byteLength
    }
  }
}

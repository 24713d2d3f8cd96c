/**
 * The receiving end of direct-message streams (`/dmsnet/msg/1.0.0` and `/2.0.0`): frames in,
 * bounds on what is in flight, verification, handler dispatch in arrival order, and one
 * ACK / RESPONSE / NACK per message out (coalesced per event-loop turn by `FrameWriter`).
 *
 * A message needing no asynchronous step (a connection-authenticated v2 message whose handler
 * returns synchronously) is verified, handled and answered within the turn it arrived in, with no
 * promise allocated; the general path (signed envelopes, async handlers) keeps the same order.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { decodeCompact } from './compact.js'
import type { DecodedEnvelope, Envelope } from './envelope.js'
import { MessageTooLargeError, SlowFrameError } from './errors.js'
import { FrameDecoder, FrameKind, FrameWriter, MessageFlags, ShortFrameError, encodeFrame, encodeNack } from './framing.js'
import type { DropReason, MessagingConfig, ReceivedMessage } from './types.js'

/** Bytes of acks/responses waiting for a peer to read before its stream is cut. */
export const MAX_UNREAD_REPLY_BYTES = 4 * 1024 * 1024

/** Thrown inside the receive path: carries the drop reason to count and NACK. */
export class DropError extends Error {
  static override name = 'DropError'
  /** `blame`: the peer that handed us the message is at fault (gossip scores it), not just the signer. */
  constructor (readonly reason: DropReason, message: string, readonly blame = false) {
    super(message)
  }
}

/** What the receive path needs from the messaging core. */
export interface InboundCore {
  readonly config: MessagingConfig
  readonly maxFrame: number
  countDrop: (peer: string, reason: DropReason, detail?: string) => void
  /** Full check of a signed envelope from `remote`; rejects with `DropError`. */
  verify: (bytes: Uint8Array, remote: PeerId) => Promise<DecodedEnvelope>
  /** Expiry window and replay cache for a message `sender` sent us directly; throws `DropError`. */
  checkFresh: (sender: string, nonce: Uint8Array, expiry: number) => void
  /** Runs the handler of `msg.type`; throws / rejects with `DropError`. */
  dispatchMessage: (msg: ReceivedMessage) => Uint8Array | undefined | Promise<Uint8Array | undefined>
}

type Verified = ReceivedMessage | Promise<ReceivedMessage>

/**
 * Connection encrypters that authenticate the remote peer and protect every byte (Noise, TLS):
 * only on these does a message without a signature prove its sender. dmsnet's hosts run Noise
 * only; the check keeps that promise if another encrypter is ever configured.
 */
export const AUTHENTICATING_ENCRYPTERS: ReadonlySet<string> = new Set(['/noise', '/tls/1.0.0'])

export class InboundStreams {
  /** Each open inbound stream and its decoder (which holds the part of a frame not complete yet). */
  private readonly streams = new Map<Stream, FrameDecoder>()
  private readonly inFlight = new Map<string, number>()
  /** Bytes of messages being verified or handled, per peer and in all. */
  private readonly inFlightBytes = new Map<string, number>()
  private bytes = 0

  constructor (private readonly core: InboundCore) {}

  get size (): number {
    return this.streams.size
  }

  get inFlightByteCount (): number {
    return this.bytes
  }

  /** Bytes of frames received in part, all streams (each stream: < maxFrame, and for < frameTimeoutMs). */
  get bufferedByteCount (): number {
    let n = 0
    for (const d of this.streams.values()) n += d.buffered
    return n
  }

  abortAll (err: Error): void {
    for (const s of this.streams.keys()) s.abort(err)
    this.streams.clear()
  }

  /** Serves one inbound stream; `compact` = the v2 protocol (connection-authenticated bodies allowed). */
  serve (stream: Stream, connection: Connection, compact: boolean): void {
    const core = this.core
    const remote = connection.remotePeer
    const remoteStr = remote.toString()
    const authenticated = connection.encryption != null && AUTHENTICATING_ENCRYPTERS.has(connection.encryption)
    const decoder = new FrameDecoder(core.maxFrame)
    // messages whose handler has not started yet: while any wait, later ones queue behind them
    let waiting = 0
    let order: Promise<void> = Promise.resolve()
    this.streams.set(stream, decoder)
    // A frame begun must be complete within frameTimeoutMs (a trickling peer would otherwise
    // hold up to maxFrame here for the life of the stream). One lazy timer per stream, armed
    // while part of a frame waits; `progressAt` moves when a frame starts or completes.
    let progressAt = 0
    let slowTimer: ReturnType<typeof setTimeout> | undefined
    const checkSlow = (): void => {
      slowTimer = undefined
      if (decoder.buffered === 0 || stream.status !== 'open') return
      const left = progressAt + core.config.frameTimeoutMs - Date.now()
      if (left > 0) {
        slowTimer = setTimeout(checkSlow, left)
        return
      }
      const err = new SlowFrameError(`a frame stayed incomplete for ${core.config.frameTimeoutMs} ms (${decoder.buffered} bytes received)`)
      core.countDrop(remoteStr, 'slow', err.message)
      stream.abort(err)
    }
    stream.addEventListener('close', () => {
      this.streams.delete(stream)
      clearTimeout(slowTimer)
    })
    // Once the peer has closed its side, close ours when every message it sent is answered:
    // a half-closed stream left open would hold one of its 16 stream slots and our map entry
    // until the connection ends.
    let unanswered = 0
    let remoteClosed = false
    const closeIfDone = (): void => {
      if (!remoteClosed || unanswered > 0 || stream.writeStatus !== 'writable') return
      stream.close().catch((err: Error) => { stream.abort(err) })
    }
    stream.addEventListener('remoteCloseWrite', () => { remoteClosed = true; closeIfDone() })
    const writer = new FrameWriter(stream)
    const reply = (frame: Uint8Array): void => {
      if (stream.writeStatus !== 'writable') return
      // A peer that keeps sending but never reads our acks would make us buffer them without
      // bound (the muxer's write buffer is unbounded): cut that stream instead.
      if (stream.writeBufferLength > MAX_UNREAD_REPLY_BYTES) {
        core.countDrop(remoteStr, 'flood', 'peer does not read its acknowledgements')
        stream.abort(new Error('peer does not read its acknowledgements'))
        return
      }
      writer.write(frame)
    }

    const verifyFrame = (rest: Uint8Array): Verified => {
      const flags = rest[0] as number
      if (!compact || (flags & MessageFlags.Signed) !== 0) {
        return core.verify(rest.subarray(1), remote).then(d => envelopeMessage(d.envelope, 'signature'))
      }
      if (!authenticated) throw new DropError('unauthenticated', `an unsigned message on a connection not authenticated by its encrypter (${connection.encryption ?? 'none'})`)
      let f
      try {
        f = decodeCompact(rest.subarray(1), core.config.maxMessageSize)
      } catch (err) {
        throw new DropError(err instanceof MessageTooLargeError ? 'oversized' : 'undecodable', (err as Error).message)
      }
      core.checkFresh(remoteStr, f.nonce, f.expiry)
      return { type: f.type, payload: f.payload, from: remoteStr, nonce: f.nonce, expiry: f.expiry, authenticatedBy: 'connection', ...(f.replyTo != null ? { replyTo: f.replyTo } : {}) }
    }

    const handleOne = (id: number, rest: Uint8Array): void => {
      const size = rest.byteLength
      const wantResponse = ((rest[0] as number) & MessageFlags.WantResponse) !== 0
      unanswered++
      const done = (response: Uint8Array | undefined): void => {
        if (wantResponse && response != null) {
          if (response.byteLength > core.config.maxMessageSize) {
            reply(encodeNack(id, 'response-too-large', `${response.byteLength} bytes`))
          } else {
            reply(encodeFrame(FrameKind.Response, id, response))
          }
        } else {
          reply(encodeFrame(wantResponse ? FrameKind.Response : FrameKind.Ack, id))
        }
        this.release(remoteStr, size)
        unanswered--
        closeIfDone()
      }
      const failed = (err: Error): void => {
        const reason: DropReason = err instanceof DropError ? err.reason : 'handler-error'
        core.countDrop(remoteStr, reason, err.message)
        reply(encodeNack(id, reason, err.message))
        this.release(remoteStr, size)
        unanswered--
        closeIfDone()
      }
      const run = (msg: ReceivedMessage): void => {
        let r
        try {
          r = core.dispatchMessage(msg)
        } catch (err) {
          failed(err as Error)
          return
        }
        if (r instanceof Promise) r.then(done, failed)
        else done(r)
      }

      let verified: Verified
      try {
        verified = verifyFrame(rest)
      } catch (err) {
        failed(err as Error)
        return
      }
      if (waiting === 0 && !(verified instanceof Promise)) {
        run(verified)
        return
      }
      // Verification runs concurrently, but handlers are *started* strictly in arrival order:
      // each message's dispatch waits for the previous one's to have begun (not finished).
      waiting++
      const v = Promise.resolve(verified)
      v.catch(() => {}) // handled below, maybe after an earlier message's dispatch began
      order = order.then(async () => {
        let msg: ReceivedMessage
        try {
          msg = await v
        } catch (err) {
          waiting--
          failed(err as Error)
          return
        }
        waiting--
        run(msg)
      })
    }

    stream.addEventListener('message', (evt) => {
      const fresh = decoder.buffered === 0
      let frames
      try {
        frames = decoder.push(evt.data)
      } catch (err) {
        // The length prefix is beyond the bound: framing is lost, reset this stream only.
        core.countDrop(remoteStr, 'oversized', (err as Error).message)
        stream.abort(err as Error)
        return
      }
      if (decoder.buffered > 0) {
        if (fresh || frames.length > 0) progressAt = Date.now()
        slowTimer ??= setTimeout(checkSlow, core.config.frameTimeoutMs)
      }
      for (const f of frames) {
        if (f instanceof ShortFrameError) {
          core.countDrop(remoteStr, 'undecodable', f.message)
          continue
        }
        if (f.kind !== FrameKind.Message || f.rest.byteLength < 1) {
          core.countDrop(remoteStr, 'undecodable', `unexpected frame kind ${f.kind}`)
          reply(encodeNack(f.id, 'undecodable', 'unexpected frame'))
          continue
        }
        const over = this.acquire(remoteStr, f.rest.byteLength)
        if (over != null) {
          core.countDrop(remoteStr, 'flood', over)
          reply(encodeNack(f.id, 'flood', over))
          continue
        }
        handleOne(f.id, f.rest)
      }
    })
  }

  /** Takes room for one message of `size` bytes from `peer`; the bound it would pass, if any. */
  private acquire (peer: string, size: number): string | undefined {
    // the bounds are per peer, over all of its inbound streams, and over all peers
    const c = this.core.config
    const n = this.inFlight.get(peer) ?? 0
    const peerBytes = this.inFlightBytes.get(peer) ?? 0
    if (n >= c.maxInFlight) return 'too many messages in flight'
    if (peerBytes + size > c.maxInFlightBytesPerPeer) return 'too many bytes in flight from this peer'
    if (this.bytes + size > c.maxInFlightBytes) return 'too many bytes in flight in all'
    this.inFlight.set(peer, n + 1)
    this.inFlightBytes.set(peer, peerBytes + size)
    this.bytes += size
    return undefined
  }

  private release (peer: string, size: number): void {
    const n = (this.inFlight.get(peer) ?? 1) - 1
    if (n <= 0) this.inFlight.delete(peer)
    else this.inFlight.set(peer, n)
    const b = (this.inFlightBytes.get(peer) ?? size) - size
    if (b <= 0) this.inFlightBytes.delete(peer)
    else this.inFlightBytes.set(peer, b)
    this.bytes -= size
  }
}

/** The handler's view of a verified signed envelope. */
export function envelopeMessage (e: Envelope, authenticatedBy: ReceivedMessage['authenticatedBy']): ReceivedMessage {
  return {
    type: e.type,
    payload: e.payload,
    from: e.sender,
    nonce: e.nonce,
    expiry: e.expiry,
    authenticatedBy,
    ...(e.replyTo != null ? { replyTo: e.replyTo } : {}),
    ...(e.topic != null ? { topic: e.topic } : {})
  }
}

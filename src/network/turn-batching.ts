/**
 * One Noise message (and one socket write, one TCP segment) per connection per event-loop turn,
 * instead of one per yamux frame.
 *
 * Why (issue 10, CPU per DHT lookup at N=100): js-yamux hands every frame to the secured
 * connection on its own, and Noise encrypts and writes each one at once. Opening a stream, asking
 * one DHT question and closing it is ~8 frames over both ends (the SYN window update, the
 * multistream-select header and protocol, each written separately by the listener, the request,
 * the answer, the two FINs), each its own AEAD seal, `socket.write` syscall, TCP segment (the
 * sockets run with TCP_NODELAY) and, at the other end, its own read wake-up, AEAD open and event
 * dispatch; several of them leave in the same turn of the event loop. Here the secured
 * connection's `send` appends to the write buffer the stream already has and flushes it once, in
 * `setImmediate` (after the current turn's microtasks: every frame written in the same callback
 * goes out together). The bytes on the wire are the same yamux frames in the same order, only
 * cut into fewer Noise messages, which every Noise peer accepts (a Noise message is only a unit
 * of encryption; yamux reads a byte stream).
 *
 * A send that would take the buffer past `BATCH_MAX` bytes, or arrives while the socket asks for a
 * drain, goes the stock way at once (bulk data is not held back). The secured connection's and the
 * raw connection's `close` flush first (libp2p closes a connection by sending yamux's GoAway and
 * then closing the TCP connection underneath, without waiting for a turn). Only connections that
 * Noise runs straight over `@libp2p/tcp` are batched (a private swarm's protector stream in between
 * is left alone: closing its TCP connection would skip the flush).
 * `DMSNET_BATCH_SENDS=0` turns it off (for before/after benchmarks).
 */
import { isTcpConnection } from './tcp-conn.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** The parts of `@libp2p/utils`' AbstractMessageStream (Noise's secured connection) used here. */
interface SendQueueStream {
  send: (data: Uint8Array | Uint8ArrayList) => boolean
  close: (options?: AbortOptions) => Promise<void>
  processSendQueue: () => boolean
  writeBuffer: Uint8ArrayList
  writeStatus: string
  writableNeedsDrain: boolean
}

interface Closable { close: (options?: AbortOptions) => Promise<void> }

/** Counters for tests. */
export const turnBatchStats = {
  /** Secured connections batched. */
  connections: 0,
  /** Sends held for the end of the turn. */
  deferred: 0,
  /** Flushes that wrote held bytes. */
  flushes: 0
}

/** A send that would hold more than this is written at once, with whatever was held before it. */
export const BATCH_MAX = 32 * 1024

export function batchingWanted (value: string | undefined): boolean {
  return !(value === '0' || value === 'off' || value === 'false')
}
const enabled = batchingWanted(process.env.DMSNET_BATCH_SENDS)

function isSendQueueStream (x: unknown): x is SendQueueStream {
  const s = x as Partial<SendQueueStream> | null
  return s != null && typeof s.send === 'function' && typeof s.close === 'function' && typeof s.processSendQueue === 'function' &&
    typeof s.writeBuffer?.append === 'function' && typeof s.writeBuffer.byteLength === 'number' && typeof s.writeStatus === 'string'
}

/**
 * Makes `secured` (Noise's connection over `raw`, a `@libp2p/tcp` connection) write what it is sent
 * once per event-loop turn. False, changing nothing, when turned off or either is not recognised.
 */
export function batchSendsPerTurn (secured: unknown, raw: unknown): boolean {
  if (!enabled || !isSendQueueStream(secured) || !isTcpConnection(raw) || typeof (raw as Partial<Closable>).close !== 'function') return false
  const s = secured
  const send = s.send.bind(s)
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    if (s.writeBuffer.byteLength === 0) return
    turnBatchStats.flushes++
    try {
      s.processSendQueue()
    } catch {
      // processSendQueue has aborted the connection itself (a failed write); nothing is left to send
    }
  }
  s.send = (data) => {
    if (s.writeStatus !== 'writable' || s.writableNeedsDrain || s.writeBuffer.byteLength + data.byteLength > BATCH_MAX) return send(data)
    s.writeBuffer.append(data)
    turnBatchStats.deferred++
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
    return true
  }
  const closeSecured = s.close.bind(s)
  s.close = async (options) => { flush(); await closeSecured(options) }
  const r = raw as unknown as Closable
  const closeRaw = r.close.bind(raw)
  r.close = async (options) => { flush(); await closeRaw(options) }
  turnBatchStats.connections++
  return true
}

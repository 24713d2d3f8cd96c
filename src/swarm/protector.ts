/**
 * Our own pre-shared-key connection protector, wire-compatible with go-libp2p's and
 * `@libp2p/pnet`'s private networks (replaces `@libp2p/pnet` 3.0.27, whose WASM cipher dies
 * under sustained writes and leaks two cipher slots per connection).
 *
 * Wire format: each side sends its own 24 random bytes (the nonce) in the clear, at once and
 * without waiting for the other side; every byte after that is XORed with XSalsa20(PSK, nonce)
 * starting at block counter 0, each direction with its sender's nonce. No MAC, no framing: a
 * wrong key only shows up as a failed Noise handshake on top.
 *
 * `protect` returns without waiting for the remote nonce: go-libp2p writes its nonce lazily (on
 * its first write), so waiting here could deadlock against a Go responder. Incoming bytes are
 * held until 24 have arrived, then decrypted; a remote that never sends them is cut off after
 * `nonceTimeoutMs`.
 */
import { randomBytes } from 'node:crypto'
import { AbstractMessageStream, type SendResult } from '@libp2p/utils'
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { PskHandshakeError, PskKeystreamExhaustedError } from './errors.js'
import { SWARM_KEY_LENGTH } from './key-file.js'
import type { AbortOptions, ConnectionProtector, MessageStream, StreamCloseEvent } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export const PSK_NONCE_LENGTH = 24
const BLOCK = 64
/** noble's salsa exposes only the low 32 bits of the block counter. */
const MAX_BLOCKS = 2 ** 32
const ZERO_BLOCK = new Uint8Array(BLOCK)

/**
 * XSalsa20 keystream XOR that can be fed chunks of any length: the keystream position carries
 * over between calls, so `update(a) ++ update(b)` equals a one-shot XOR of `a ++ b`.
 */
export class XSalsa20Stream {
  private readonly key: Uint8Array
  private readonly nonce: Uint8Array
  /** Index of the next unused keystream block. */
  private counter = 0
  /** Keystream bytes left over from a partly used block: `block[offset..64]`. */
  private readonly block = new Uint8Array(BLOCK)
  private offset = BLOCK

  constructor (key: Uint8Array, nonce: Uint8Array) {
    if (key.byteLength !== SWARM_KEY_LENGTH) throw new RangeError('XSalsa20 key must be 32 bytes')
    if (nonce.byteLength !== PSK_NONCE_LENGTH) throw new RangeError('XSalsa20 nonce must be 24 bytes')
    this.key = key
    this.nonce = nonce
  }

  /** Bytes of keystream consumed so far. */
  get position (): number {
    return this.counter * BLOCK - (BLOCK - this.offset)
  }

  /**
   * A fresh buffer for the next `n` bytes, placed so that the whole-block part of the next
   * `update(buf, buf)` is 4-byte aligned: noble XORs aligned data a word at a time, unaligned a
   * byte at a time (measured ~30 % slower).
   */
  alloc (n: number): Uint8Array {
    const lead = (BLOCK - this.offset) % 4
    const pad = (4 - lead) % 4
    return new Uint8Array(n + pad).subarray(pad)
  }

  /** XORs `data` with the next keystream bytes into `out` (a new array unless given). */
  update (data: Uint8Array, out: Uint8Array = new Uint8Array(data.byteLength)): Uint8Array {
    const n = data.byteLength
    let i = 0
    while (this.offset < BLOCK && i < n) {
      out[i] = data[i]! ^ this.block[this.offset++]!
      i++
    }
    if (i === n) return out
    const whole = Math.floor((n - i) / BLOCK) * BLOCK
    const tail = n - i - whole
    const needed = whole / BLOCK + (tail > 0 ? 1 : 0)
    if (this.counter + needed > MAX_BLOCKS) {
      throw new PskKeystreamExhaustedError('XSalsa20 keystream exhausted (256 GiB in one direction); reconnect')
    }
    if (whole > 0) {
      xsalsa20(this.key, this.nonce, data.subarray(i, i + whole), out.subarray(i, i + whole), this.counter)
      this.counter += whole / BLOCK
      i += whole
    }
    if (tail > 0) {
      xsalsa20(this.key, this.nonce, ZERO_BLOCK, this.block, this.counter)
      this.counter++
      this.offset = 0
      while (i < n) {
        out[i] = data[i]! ^ this.block[this.offset++]!
        i++
      }
    }
    return out
  }
}

export interface PskProtectorInit {
  /** The 32-byte pre-shared key (see `parseSwarmKey` for the file form). */
  psk: Uint8Array
  /** Cut off a connection whose remote nonce has not arrived after this long. Default 10 s. */
  nonceTimeoutMs?: number
}

/** Counters shared by every connection a protector made (for tests and metrics). */
export interface PskProtectorStats {
  /** Connections protected so far. */
  protected: number
  /** Connections currently open through the protector. */
  open: number
  /** Connections cut off for not sending a nonce in time. */
  nonceTimeouts: number
}

class PskMessageStream extends AbstractMessageStream {
  private readonly conn: MessageStream
  private readonly outbound: XSalsa20Stream
  private inbound?: XSalsa20Stream
  private readonly psk: Uint8Array
  private readonly nonceBuf = new Uint8Array(PSK_NONCE_LENGTH)
  private nonceHave = 0
  private nonceTimer?: ReturnType<typeof setTimeout>

  constructor (conn: MessageStream, psk: Uint8Array, localNonce: Uint8Array, nonceTimeoutMs: number, stats: PskProtectorStats) {
    super({
      log: conn.log.newScope('psk'),
      inactivityTimeout: conn.inactivityTimeout,
      maxReadBufferLength: conn.maxReadBufferLength,
      direction: conn.direction
    })
    this.conn = conn
    this.psk = psk
    this.outbound = new XSalsa20Stream(psk, localNonce)
    stats.open++

    this.nonceTimer = setTimeout(() => {
      this.nonceTimer = undefined
      stats.nonceTimeouts++
      conn.abort(new PskHandshakeError(`remote did not send its ${PSK_NONCE_LENGTH}-byte PSK nonce within ${nonceTimeoutMs} ms`))
    }, nonceTimeoutMs)
    this.nonceTimer.unref?.()

    conn.addEventListener('message', (evt) => {
      try {
        const data = evt.data
        if (data instanceof Uint8Array) {
          this.receive(data)
        } else {
          for (const buf of data) this.receive(buf)
        }
      } catch (err) {
        this.abort(err as Error)
      }
    })
    conn.addEventListener('drain', () => {
      this.safeDispatchEvent('drain')
    })
    conn.addEventListener('remoteCloseWrite', () => {
      this.onRemoteCloseWrite()
    })
    conn.addEventListener('close', (evt: StreamCloseEvent) => {
      stats.open--
      if (this.nonceTimer != null) clearTimeout(this.nonceTimer)
      this.nonceTimer = undefined
      if (evt.error != null) {
        if (evt.local === true) this.abort(evt.error)
        else this.onRemoteReset()
      } else {
        this.onTransportClosed()
      }
    }, { once: true })
  }

  private receive (buf: Uint8Array): void {
    if (this.inbound == null) {
      const take = Math.min(PSK_NONCE_LENGTH - this.nonceHave, buf.byteLength)
      this.nonceBuf.set(buf.subarray(0, take), this.nonceHave)
      this.nonceHave += take
      buf = buf.subarray(take)
      if (this.nonceHave < PSK_NONCE_LENGTH) return
      this.inbound = new XSalsa20Stream(this.psk, this.nonceBuf)
      if (this.nonceTimer != null) clearTimeout(this.nonceTimer)
      this.nonceTimer = undefined
      this.log.trace('received remote nonce')
      if (buf.byteLength === 0) return
    }
    const out = this.inbound.alloc(buf.byteLength)
    out.set(buf)
    this.onData(this.inbound.update(out, out))
  }

  sendData (data: Uint8ArrayList): SendResult {
    const out = this.outbound.alloc(data.byteLength)
    let off = 0
    for (const buf of data) {
      out.set(buf, off)
      off += buf.byteLength
    }
    this.outbound.update(out, out)
    return { sentBytes: data.byteLength, canSendMore: this.conn.send(out) }
  }

  sendReset (err: Error): void {
    this.conn.abort(err)
  }

  sendPause (): void {
    this.conn.pause()
  }

  sendResume (): void {
    this.conn.resume()
  }

  async close (options?: AbortOptions): Promise<void> {
    await this.conn.close(options)
  }
}

class PskConnectionProtector implements ConnectionProtector {
  readonly [Symbol.toStringTag] = 'dmsnet:psk-protector'
  readonly stats: PskProtectorStats
  private readonly psk: Uint8Array
  private readonly nonceTimeoutMs: number

  constructor (init: PskProtectorInit, stats: PskProtectorStats) {
    this.stats = stats
    if (!(init.psk instanceof Uint8Array) || init.psk.byteLength !== SWARM_KEY_LENGTH) {
      throw new RangeError(`pskProtector needs a ${SWARM_KEY_LENGTH}-byte psk`)
    }
    this.psk = new Uint8Array(init.psk)
    this.nonceTimeoutMs = init.nonceTimeoutMs ?? 10_000
  }

  async protect (connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
    options?.signal?.throwIfAborted()
    const localNonce = new Uint8Array(randomBytes(PSK_NONCE_LENGTH))
    // listeners first, so no byte of the remote nonce can be missed
    const wrapped = new PskMessageStream(connection, this.psk, localNonce, this.nonceTimeoutMs, this.stats)
    this.stats.protected++
    connection.send(localNonce)
    return wrapped
  }
}

export type PskProtectorFactory = ((components?: unknown) => ConnectionProtector) & { stats: PskProtectorStats }

/**
 * `HostProfile.connectionProtector` / libp2p `connectionProtector` for a private swarm.
 * The returned factory carries `stats` (shared by the protector instances it made).
 */
export function pskProtector (init: PskProtectorInit): PskProtectorFactory {
  const stats: PskProtectorStats = { protected: 0, open: 0, nonceTimeouts: 0 }
  // validate now, so a bad key fails at configuration time rather than at the first dial
  void new PskConnectionProtector(init, stats)
  // one stats object per factory, whichever host generation uses it
  const factory = (): ConnectionProtector => new PskConnectionProtector(init, stats)
  return Object.assign(factory, { stats })
}

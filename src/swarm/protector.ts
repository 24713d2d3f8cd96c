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
 *
 * The keystream runs on the addon's AVX-512 code where the CPU has it (a busy connection's computed
 * ahead on the addon's generator thread), else on libsodium (sodium-native), else on pure
 * JavaScript (src/swarm/xsalsa20.ts); the wire is the same either way.
 */
import { randomBytes } from 'node:crypto'
import { AbstractMessageStream, type SendResult } from '@libp2p/utils'
import { isTcpConnection } from '../network/tcp-conn.js'
import { PskHandshakeError } from './errors.js'
import { SWARM_KEY_LENGTH } from './key-file.js'
import { PSK_NONCE_LENGTH } from './xsalsa20-js.js'
import { createXSalsa20, type KeystreamXor, type XSalsa20Impl, type XSalsa20Kind } from './xsalsa20.js'
import type { AbortOptions, ConnectionProtector, MessageStream, StreamCloseEvent } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export { PSK_NONCE_LENGTH, XSalsa20Stream } from './xsalsa20-js.js'
export { availableXSalsa20, CipherChoiceError, createXSalsa20, nativeXSalsa20Available, NativeCipherUnavailableError, type KeystreamXor, type XSalsa20Impl, type XSalsa20Kind } from './xsalsa20.js'

export interface PskProtectorInit {
  /** The 32-byte pre-shared key (see `parseSwarmKey` for the file form). */
  psk: Uint8Array
  /** Cut off a connection whose remote nonce has not arrived after this long. Default 10 s. */
  nonceTimeoutMs?: number
  /**
   * Which XSalsa20 runs the keystream: `auto` (default) the addon's AVX-512 code, else libsodium,
   * else pure JavaScript (`DMSNET_XSALSA20` overrides it); `native` refuses to start without one
   * of the first two; `avx512` / `sodium` refuse to start without that one; `js` is JavaScript.
   */
  cipher?: XSalsa20Impl
}

/** Counters shared by every connection a protector made (for tests and metrics). */
export interface PskProtectorStats {
  /** Connections protected so far. */
  protected: number
  /** Connections currently open through the protector. */
  open: number
  /** Connections cut off for not sending a nonce in time. */
  nonceTimeouts: number
  /** The cipher the connections use: `native` (AVX-512 addon or libsodium) or `js`. */
  cipher: 'native' | 'js'
  /** Which code that is: `avx512` (the addon), `sodium` (libsodium) or `js`. */
  cipherImpl: XSalsa20Kind
  /** Connections that decrypt received bytes in place (TCP: each socket read is ours alone). */
  inPlace: number
  /** Of closed connections: 1 KiB keystream batches computed ahead on the addon's generator thread. */
  aheadBatches: number
  /** Of closed connections: batches computed on the event loop while their ring ran behind (stalls). */
  aheadStalls: number
}

/** `DMSNET_PSK_IN_PLACE=0` copies every received buffer (the path before; for benchmarks). */
const inPlaceReads = process.env.DMSNET_PSK_IN_PLACE !== '0'

class PskMessageStream extends AbstractMessageStream {
  private readonly conn: MessageStream
  private readonly outbound: KeystreamXor
  private inbound?: KeystreamXor
  private readonly psk: Uint8Array
  private readonly cipher: XSalsa20Impl
  private readonly nonceBuf = new Uint8Array(PSK_NONCE_LENGTH)
  private nonceHave = 0
  private nonceTimer?: ReturnType<typeof setTimeout>
  /** The transport's buffers are ours alone (a TCP socket's reads): decrypt them in place. */
  private readonly inPlace: boolean

  constructor (conn: MessageStream, psk: Uint8Array, localNonce: Uint8Array, nonceTimeoutMs: number, cipher: XSalsa20Impl, stats: PskProtectorStats) {
    super({
      log: conn.log.newScope('psk'),
      inactivityTimeout: conn.inactivityTimeout,
      maxReadBufferLength: conn.maxReadBufferLength,
      direction: conn.direction
    })
    this.conn = conn
    this.psk = psk
    this.cipher = cipher
    this.outbound = createXSalsa20(psk, localNonce, cipher)
    this.inPlace = inPlaceReads && isTcpConnection(conn)
    if (this.inPlace) stats.inPlace++
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
      for (const ks of [this.outbound, this.inbound]) {
        const a = ks?.aheadStats?.()
        if (a != null) { stats.aheadBatches += a.ringBatches; stats.aheadStalls += a.inlineBatches }
        ks?.dispose()
      }
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
      this.inbound = createXSalsa20(this.psk, this.nonceBuf, this.cipher)
      if (this.nonceTimer != null) clearTimeout(this.nonceTimer)
      this.nonceTimer = undefined
      this.log.trace('received remote nonce')
      if (buf.byteLength === 0) return
    }
    // in place only where each buffer is a socket read nothing else holds; a copy otherwise
    this.onData(this.inPlace ? this.inbound.update(buf, buf) : this.inbound.xorCopy(buf))
  }

  sendData (data: Uint8ArrayList): SendResult {
    const out = this.outbound.xorChunks(data, data.byteLength)
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
  private readonly cipher: XSalsa20Impl

  constructor (init: PskProtectorInit, stats: PskProtectorStats) {
    this.stats = stats
    if (!(init.psk instanceof Uint8Array) || init.psk.byteLength !== SWARM_KEY_LENGTH) {
      throw new RangeError(`pskProtector needs a ${SWARM_KEY_LENGTH}-byte psk`)
    }
    this.psk = new Uint8Array(init.psk)
    this.nonceTimeoutMs = init.nonceTimeoutMs ?? 10_000
    this.cipher = init.cipher ?? 'auto'
    // fails here (not at the first dial) when `native` was asked for and is missing
    const probe = createXSalsa20(this.psk, new Uint8Array(PSK_NONCE_LENGTH), this.cipher)
    stats.cipher = probe.native ? 'native' : 'js'
    stats.cipherImpl = probe.impl
    probe.dispose()
  }

  async protect (connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
    options?.signal?.throwIfAborted()
    const localNonce = new Uint8Array(randomBytes(PSK_NONCE_LENGTH))
    // listeners first, so no byte of the remote nonce can be missed
    const wrapped = new PskMessageStream(connection, this.psk, localNonce, this.nonceTimeoutMs, this.cipher, this.stats)
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
  const stats: PskProtectorStats = { protected: 0, open: 0, nonceTimeouts: 0, cipher: 'js', cipherImpl: 'js', inPlace: 0, aheadBatches: 0, aheadStalls: 0 }
  // validate now, so a bad key fails at configuration time rather than at the first dial
  void new PskConnectionProtector(init, stats)
  // one stats object per factory, whichever host generation uses it
  const factory = (): ConnectionProtector => new PskConnectionProtector(init, stats)
  return Object.assign(factory, { stats })
}

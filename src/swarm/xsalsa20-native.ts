/**
 * XSalsa20 keystream through libsodium (the `sodium-native` package, whose prebuilt binaries ship
 * inside the npm package, so no install script is needed): about 9x the pure JavaScript cipher on
 * 64 KiB chunks. `loadSodium` returns undefined when the binding cannot be loaded on this platform,
 * and the PSK protector falls back to `XSalsa20Stream`.
 */
import { createRequire } from 'node:module'
import { checkKeyNonce } from './xsalsa20-js.js'
import type { KeystreamXor } from './xsalsa20.js'

/** The part of sodium-native's API used here (libsodium's crypto_stream is XSalsa20). */
interface SodiumStream {
  crypto_stream_PRIMITIVE: string
  crypto_stream_xor_STATEBYTES: number
  crypto_stream_xor_init: (state: Uint8Array, nonce: Uint8Array, key: Uint8Array) => void
  crypto_stream_xor_update: (state: Uint8Array, out: Uint8Array, data: Uint8Array) => void
  crypto_stream_xor_final: (state: Uint8Array) => void
}

let cached: SodiumStream | null | undefined

/** sodium-native if it loads and its crypto_stream is XSalsa20, else undefined (memoised). */
export function loadSodium (): SodiumStream | undefined {
  if (cached === undefined) {
    try {
      const mod = createRequire(import.meta.url)('sodium-native') as SodiumStream
      cached = mod.crypto_stream_PRIMITIVE === 'xsalsa20' && typeof mod.crypto_stream_xor_update === 'function' ? mod : null
    } catch {
      cached = null
    }
  }
  return cached ?? undefined
}

/**
 * What both native keystreams share (libsodium's and the addon's): the position count, the
 * checks, and the copy/list forms on top of one native `xor(out, data)` that keeps its own
 * stream state (64-bit block counter, unused keystream carried over between calls).
 */
export abstract class NativeKeystream implements KeystreamXor {
  readonly native = true
  abstract readonly impl: 'sodium' | 'avx512'
  private consumed = 0
  private disposed = false

  /** XORs `data` into `out` (same length; `out` may be `data`), advancing the native state. */
  protected abstract xor (out: Uint8Array, data: Uint8Array): void
  /** Wipes the key material the native state holds. */
  protected abstract wipe (): void

  get position (): number {
    return this.consumed
  }

  update (data: Uint8Array, out: Uint8Array = new Uint8Array(data.byteLength)): Uint8Array {
    if (this.disposed) throw new RangeError('XSalsa20 stream used after dispose')
    if (out.byteLength !== data.byteLength) throw new RangeError('XSalsa20 output must be as long as the input')
    if (data.byteLength === 0) return out
    this.xor(out, data)
    this.consumed += data.byteLength
    return out
  }

  xorCopy (data: Uint8Array): Uint8Array {
    return this.update(data)
  }

  xorChunks (chunks: Iterable<Uint8Array>, total: number): Uint8Array {
    // every byte is written below: no need to zero-fill it first
    const out: Uint8Array = Buffer.allocUnsafe(total)
    let off = 0
    for (const c of chunks) {
      this.update(c, out.subarray(off, off + c.byteLength))
      off += c.byteLength
    }
    return out
  }

  dispose (): void {
    if (this.disposed) return
    this.disposed = true
    this.wipe()
  }
}

/**
 * Streaming XSalsa20 over libsodium's `crypto_stream_xor_*` state (64-bit block counter, partial
 * blocks carried over between calls), the same keystream as `XSalsa20Stream`.
 */
export class NativeXSalsa20Stream extends NativeKeystream {
  readonly impl = 'sodium'
  private readonly sodium: SodiumStream
  private readonly state: Uint8Array

  constructor (sodium: SodiumStream, key: Uint8Array, nonce: Uint8Array) {
    super()
    checkKeyNonce(key, nonce)
    this.sodium = sodium
    this.state = new Uint8Array(sodium.crypto_stream_xor_STATEBYTES)
    sodium.crypto_stream_xor_init(this.state, nonce, key)
  }

  protected xor (out: Uint8Array, data: Uint8Array): void {
    this.sodium.crypto_stream_xor_update(this.state, out, data)
  }

  protected wipe (): void {
    this.sodium.crypto_stream_xor_final(this.state)
  }
}

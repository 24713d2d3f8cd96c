/**
 * The pure JavaScript XSalsa20 keystream (@noble/ciphers): the fallback the PSK protector uses
 * when libsodium (sodium-native) cannot be loaded, and the reference the native path is tested
 * against.
 */
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { PskKeystreamExhaustedError } from './errors.js'
import { SWARM_KEY_LENGTH } from './key-file.js'
import type { KeystreamXor } from './xsalsa20.js'

export const PSK_NONCE_LENGTH = 24
const BLOCK = 64
/** noble's salsa exposes only the low 32 bits of the block counter. */
const MAX_BLOCKS = 2 ** 32
const ZERO_BLOCK = new Uint8Array(BLOCK)

/** Throws the RangeError both implementations give for a key or nonce of the wrong size. */
export function checkKeyNonce (key: Uint8Array, nonce: Uint8Array): void {
  if (key.byteLength !== SWARM_KEY_LENGTH) throw new RangeError('XSalsa20 key must be 32 bytes')
  if (nonce.byteLength !== PSK_NONCE_LENGTH) throw new RangeError('XSalsa20 nonce must be 24 bytes')
}

/**
 * XSalsa20 keystream XOR that can be fed chunks of any length: the keystream position carries
 * over between calls, so `update(a) ++ update(b)` equals a one-shot XOR of `a ++ b`.
 */
export class XSalsa20Stream implements KeystreamXor {
  readonly native = false
  readonly impl = 'js'
  private readonly key: Uint8Array
  private readonly nonce: Uint8Array
  /** Index of the next unused keystream block. */
  private counter = 0
  /** Keystream bytes left over from a partly used block: `block[offset..64]`. */
  private readonly block = new Uint8Array(BLOCK)
  private offset = BLOCK

  constructor (key: Uint8Array, nonce: Uint8Array) {
    checkKeyNonce(key, nonce)
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

  /** A new array: `data` XORed with the next keystream bytes (copied first into an aligned buffer). */
  xorCopy (data: Uint8Array): Uint8Array {
    const out = this.alloc(data.byteLength)
    out.set(data)
    return this.update(out, out)
  }

  /** One new array: the concatenation of `chunks` XORed with the next keystream bytes. */
  xorChunks (chunks: Iterable<Uint8Array>, total: number): Uint8Array {
    const out = this.alloc(total)
    let off = 0
    for (const c of chunks) {
      out.set(c, off)
      off += c.byteLength
    }
    return this.update(out, out)
  }

  dispose (): void {}
}

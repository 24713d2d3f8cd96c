/**
 * Picks the XSalsa20 keystream the PSK protector runs on: libsodium (native) when it loads, the
 * pure JavaScript cipher otherwise. Both give the same bytes (tested against published vectors
 * and against each other on random chunkings).
 */
import { DmsnetError } from '../errors.js'
import { loadSodium, NativeXSalsa20Stream } from './xsalsa20-native.js'
import { XSalsa20Stream } from './xsalsa20-js.js'

/** A keystream XOR whose position carries over between calls (`update(a) ++ update(b)` = XOR of `a ++ b`). */
export interface KeystreamXor {
  /** True when libsodium does the work. */
  readonly native: boolean
  /** Bytes of keystream consumed so far. */
  readonly position: number
  /** XORs `data` with the next keystream bytes into `out` (a new array unless given; may be `data`). */
  update: (data: Uint8Array, out?: Uint8Array) => Uint8Array
  /** A new array holding `data` XORed with the next keystream bytes; `data` is left as it was. */
  xorCopy: (data: Uint8Array) => Uint8Array
  /** One new array: the concatenation of `chunks` (`total` bytes) XORed with the next keystream bytes. */
  xorChunks: (chunks: Iterable<Uint8Array>, total: number) => Uint8Array
  /** Forgets key material; the stream must not be used after. */
  dispose: () => void
}

/** `auto`: native when available, else JavaScript; `native`: native or throw; `js`: always JavaScript. */
export type XSalsa20Impl = 'auto' | 'native' | 'js'

/** Raised when `native` is asked for and sodium-native cannot be loaded here. */
export class NativeCipherUnavailableError extends DmsnetError {
  static override name = 'NativeCipherUnavailableError'
}

/** Whether the native cipher can be used on this machine. */
export function nativeXSalsa20Available (): boolean {
  return loadSodium() != null
}

/** A keystream XOR for `key` (32 bytes) and `nonce` (24 bytes) from block 0. */
export function createXSalsa20 (key: Uint8Array, nonce: Uint8Array, impl: XSalsa20Impl = 'auto'): KeystreamXor {
  if (impl !== 'js') {
    const sodium = loadSodium()
    if (sodium != null) return new NativeXSalsa20Stream(sodium, key, nonce)
    if (impl === 'native') throw new NativeCipherUnavailableError('sodium-native could not be loaded')
  }
  return new XSalsa20Stream(key, nonce)
}

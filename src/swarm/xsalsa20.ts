/**
 * Picks the XSalsa20 keystream the PSK protector runs on: the project's AVX-512 code (native addon)
 * on CPUs that have it, else libsodium (sodium-native) when it loads, else the pure JavaScript
 * cipher. All give the same bytes (tested against published vectors and against each other on
 * random chunkings). `DMSNET_XSALSA20=avx512|sodium|js` overrides `auto` (for A/B benchmarks).
 * On AVX-512 a busy stream's keystream is computed ahead on a native thread;
 * `DMSNET_PSK_AHEAD=0` keeps it on the caller's thread (A/B benchmarks).
 */
import { DmsnetError } from '../errors.js'
import { XSalsa20Stream } from './xsalsa20-js.js'
import { loadSodium, NativeXSalsa20Stream } from './xsalsa20-native.js'
import { loadSimd, SimdXSalsa20Stream, type KeystreamAhead } from './xsalsa20-simd.js'

/** Which code computes a keystream: the addon's AVX-512 Salsa20, libsodium, or JavaScript. */
export type XSalsa20Kind = 'avx512' | 'sodium' | 'js'

/** A keystream XOR whose position carries over between calls (`update(a) ++ update(b)` = XOR of `a ++ b`). */
export interface KeystreamXor {
  /** True when native code (the addon or libsodium) does the work. */
  readonly native: boolean
  /** Which code does the work. */
  readonly impl: XSalsa20Kind
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
  /** Where the keystream came from (only the AVX-512 cipher computes it ahead). */
  aheadStats?: () => { ring: boolean, ringBatches: number, inlineBatches: number }
}

/**
 * `auto`: the fastest available (AVX-512, libsodium, JavaScript; `DMSNET_XSALSA20` overrides it);
 * `native`: AVX-512 or libsodium, or throw; `avx512` / `sodium`: that one or throw; `js`: JavaScript.
 */
export type XSalsa20Impl = 'auto' | 'native' | XSalsa20Kind

/** Raised when a native cipher is asked for and cannot be loaded here. */
export class NativeCipherUnavailableError extends DmsnetError {
  static override name = 'NativeCipherUnavailableError'
}

/** Raised when `DMSNET_XSALSA20` names no cipher. */
export class CipherChoiceError extends DmsnetError {
  static override name = 'CipherChoiceError'
}

const KINDS: readonly string[] = ['avx512', 'sodium', 'js']

/** Whether a native cipher (AVX-512 or libsodium) can be used on this machine. */
export function nativeXSalsa20Available (): boolean {
  return loadSimd() != null || loadSodium() != null
}

/** Which ciphers this machine can run, fastest first. */
export function availableXSalsa20 (): XSalsa20Kind[] {
  return [...(loadSimd() != null ? ['avx512' as const] : []), ...(loadSodium() != null ? ['sodium' as const] : []), 'js']
}

/** `auto` resolved through `DMSNET_XSALSA20` (unset or `auto`: no override). */
function fromEnv (): XSalsa20Impl {
  const v = process.env.DMSNET_XSALSA20
  if (v == null || v === '' || v === 'auto') return 'auto'
  if (!KINDS.includes(v)) throw new CipherChoiceError(`DMSNET_XSALSA20 must be auto, avx512, sodium or js (got ${JSON.stringify(v)})`)
  return v as XSalsa20Kind
}

/** `DMSNET_PSK_AHEAD`: 1 (unset: busy streams get keystream computed ahead), 0 (never), 2 (always). */
function aheadFromEnv (): KeystreamAhead {
  const v = process.env.DMSNET_PSK_AHEAD
  if (v == null || v === '' || v === '1') return 1
  if (v === '0' || v === '2') return Number(v) as KeystreamAhead
  throw new CipherChoiceError(`DMSNET_PSK_AHEAD must be 0, 1 or 2 (got ${JSON.stringify(v)})`)
}

/** A keystream XOR for `key` (32 bytes) and `nonce` (24 bytes) from block 0. */
export function createXSalsa20 (key: Uint8Array, nonce: Uint8Array, impl: XSalsa20Impl = 'auto'): KeystreamXor {
  if (impl === 'auto') impl = fromEnv()
  if (impl === 'auto' || impl === 'native' || impl === 'avx512') {
    const simd = loadSimd()
    if (simd != null) return new SimdXSalsa20Stream(simd, key, nonce, 0, aheadFromEnv())
    if (impl === 'avx512') throw new NativeCipherUnavailableError('the AVX-512 XSalsa20 needs the dmsnet addon and a CPU with AVX-512F')
  }
  if (impl !== 'js') {
    const sodium = loadSodium()
    if (sodium != null) return new NativeXSalsa20Stream(sodium, key, nonce)
    if (impl !== 'auto') throw new NativeCipherUnavailableError('sodium-native could not be loaded')
  }
  return new XSalsa20Stream(key, nonce)
}

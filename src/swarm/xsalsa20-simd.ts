/**
 * XSalsa20 keystream through the project's own addon (native/crypto/xsalsa20.c): Salsa20 on 16
 * blocks at once in AVX-512 registers, ~1.6x libsodium's AVX2 code on 64 KiB chunks. Only offered
 * on CPUs with AVX-512F; `loadSimd` returns undefined elsewhere (or when the addon is missing) and
 * the PSK protector uses libsodium instead.
 *
 * A busy stream takes its keystream from a ring that a native generator thread fills ahead
 * (native/crypto/keystream_ring.c), so the event loop only XORs; `ahead` picks when.
 */
import { loadAddon } from '../netdev/native-loader.js'
import { checkKeyNonce } from './xsalsa20-js.js'
import { NativeKeystream } from './xsalsa20-native.js'

/** An opaque stream state owned by the addon (key material, counter, unused keystream). */
type SimdState = object & { readonly __simdState: unique symbol }

/** The part of the addon this cipher uses. */
interface SimdAddon {
  xsalsa20Available: () => boolean
  /**
   * `counter`: the first block (tests start near 2^32 to cross the counter's word boundary);
   * `ahead`: see `KeystreamAhead` (default 0).
   */
  xsalsa20Create: (key: Uint8Array, nonce: Uint8Array, counter?: number, ahead?: KeystreamAhead) => SimdState
  /** `out` may be `data` itself (in place); otherwise they must not overlap. */
  xsalsa20Xor: (state: SimdState, out: Uint8Array, data: Uint8Array) => void
  xsalsa20Dispose: (state: SimdState) => void
  /** An external that is not a state (tests: a wrong object is a TypeError, never read as a state). */
  xsalsa20ForeignExternal?: () => object
  xsalsa20Stats: (state: SimdState) => AheadStats
  /** Keystream rings alive in this process (at most 16). */
  xsalsa20RingsLive: () => number
  /**
   * The process's totals: batches from rings, computed inline, and misses on a batch the
   * generator was computing at that moment (computed twice, used once).
   */
  xsalsa20AheadTotals: () => { ringBatches: number, inlineBatches: number, raced: number }
}

/**
 * When a stream's keystream is computed ahead on the generator thread: 0 never, 1 once the stream
 * is busy (from 1 MiB on, in calls of >= 16 KiB: a bulk transfer, not a control connection), 2 from
 * its first byte (tests). A process holds at most 16 rings of 256 KiB; streams beyond run inline.
 */
export type KeystreamAhead = 0 | 1 | 2

/** How a stream's keystream was made (`SimdXSalsa20Stream.aheadStats`). */
export interface AheadStats {
  /** The stream has a ring. */
  ring: boolean
  /** Whole 1 KiB batches taken from the ring. */
  ringBatches: number
  /** Batches computed on the caller's thread while the ring ran behind (stalls). */
  inlineBatches: number
  /** Batches ready in the ring for the next calls. */
  readyAhead: number
}

let cached: SimdAddon | null | undefined

/** The addon's cipher if the addon loads, has it and the CPU has AVX-512F, else undefined (memoised). */
export function loadSimd (): SimdAddon | undefined {
  if (cached === undefined) {
    try {
      const mod = loadAddon<Partial<SimdAddon>>()
      cached = typeof mod.xsalsa20Xor === 'function' && mod.xsalsa20Available?.() === true ? mod as SimdAddon : null
    } catch {
      // no addon for this platform: the TUN code reports that itself when it is used
      cached = null
    }
  }
  return cached ?? undefined
}

/** Streaming XSalsa20 on the addon's 16-block AVX-512 code; the same keystream as `XSalsa20Stream`. */
export class SimdXSalsa20Stream extends NativeKeystream {
  readonly impl = 'avx512'
  private readonly addon: SimdAddon
  private readonly state: SimdState

  constructor (addon: SimdAddon, key: Uint8Array, nonce: Uint8Array, counter = 0, ahead: KeystreamAhead = 0) {
    super()
    checkKeyNonce(key, nonce)
    this.addon = addon
    this.state = addon.xsalsa20Create(key, nonce, counter, ahead)
  }

  /** How much of the keystream came from the generator thread so far. */
  aheadStats (): AheadStats {
    return this.addon.xsalsa20Stats(this.state)
  }

  protected xor (out: Uint8Array, data: Uint8Array): void {
    this.addon.xsalsa20Xor(this.state, out, data)
  }

  /** The addon's state memory itself goes with the garbage collector. */
  protected wipe (): void {
    this.addon.xsalsa20Dispose(this.state)
  }
}

/**
 * No `RangeError` with a stack trace at the end of every socket read of a Noise connection.
 *
 * Why (issue 10, CPU per gossip message, bench census-gossip's profile of a node with 60 peers):
 * `@libp2p/utils`' `LengthPrefixedDecoder` (Noise frames every connection's bytes with it) loops
 * "read a length prefix, cut a frame" and learns that the buffer is used up when the length decoder
 * throws a `RangeError`; Noise's `uint16BEDecode` makes a new one, stack trace included, each time.
 * So every chunk read from every connection ended in a thrown, caught and dropped error: 21 ms of a
 * 447-ms profile (5 %) at a hub forwarding 200 messages, more in its garbage. Each decoder's length
 * decoder is wrapped once: an empty buffer (nothing left to decode, the usual end of a read) throws
 * one `RangeError` made in advance, which the loop catches as before; any other input goes to
 * the original decoder, so a partial prefix still throws its own. Nothing else changes.
 * If `@libp2p/utils` moves, `guardLengthDecoders` returns false and test/network/lp-decoder.spec.ts
 * fails. `DMSNET_LP_DECODER_GUARD=0` leaves the decoders alone (for before/after benchmarks).
 */
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { InvalidArgumentError } from '../errors.js'

type LengthDecoder = ((data: { byteLength: number }) => number) & { bytes?: number }

/** Thrown for "nothing buffered": never shown, the decoder's loop ends on any RangeError. */
const NOTHING_BUFFERED = new RangeError('no length prefix buffered')
const kGuarded = Symbol.for('dmsnet.lp-decoder.guarded')
/** Per decoder: its length decoder is wrapped (apart from kGuarded, which marks the prototype). */
const kWrapped = Symbol.for('dmsnet.lp-decoder.wrapped')

export const lpDecoderStats = { guardedDecoders: 0, emptyEnds: 0 }

/** `DMSNET_LP_DECODER_GUARD`: unset, 1/on/true -> guard; 0/off/false -> none; anything else is a typo, refused (a silent default would spoil a before/after). */
export function lpDecoderGuardWanted (value: string | undefined): boolean {
  if (value == null || value === '' || ['1', 'on', 'true'].includes(value)) return true
  if (['0', 'off', 'false'].includes(value)) return false
  throw new InvalidArgumentError(`DMSNET_LP_DECODER_GUARD: "${value}" is not one of 0, off, false, 1, on, true`)
}

/** Installs the guard on `LengthPrefixedDecoder` (idempotent); false when its shape is unknown. */
export function guardLengthDecoders (): boolean {
  const proto = LengthPrefixedDecoder.prototype as unknown as Record<string | symbol, unknown> & { decode?: (buf: unknown) => Iterable<unknown> }
  if (proto[kGuarded] === true) return true
  if (!lpDecoderGuardWanted(process.env.DMSNET_LP_DECODER_GUARD)) return false
  const decode = proto.decode
  if (typeof decode !== 'function') return false
  proto.decode = function (this: { lengthDecoder?: LengthDecoder, [kWrapped]?: boolean }, buf: unknown): Iterable<unknown> {
    const inner = this.lengthDecoder
    if (this[kWrapped] !== true && typeof inner === 'function') {
      this[kWrapped] = true
      lpDecoderStats.guardedDecoders++
      this.lengthDecoder = Object.assign((data: { byteLength: number }): number => {
        if (data.byteLength === 0) {
          lpDecoderStats.emptyEnds++
          throw NOTHING_BUFFERED
        }
        return inner(data)
      }, inner)
    }
    return decode.call(this, buf)
  }
  proto[kGuarded] = true
  return true
}

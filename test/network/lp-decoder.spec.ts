/**
 * No `RangeError` per socket read of a Noise connection (src/network/lp-decoder.ts, issue 10). On
 * two real js-libp2p nodes over loopback TCP (Noise, yamux): 30 pings, each a socket read at both
 * ends, and fewer than 10 RangeErrors are constructed (before: one per read, >= 60; `RangeError` is
 * wrapped with a counter for the test); each read's end is the guard's prepared error. The control in the same test: a partial length prefix
 * (one byte) still reaches the original decoder, which makes a RangeError the counter sees.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { guardLengthDecoders, lpDecoderStats } from '../../src/network/lp-decoder.js'
import { startNode, type TestNode } from './helpers.js'

const OFF = { 'network.connectionManager.minConnections': 0 }

/** Counts RangeErrors made while `fn` runs (`RangeError` replaced by a counting constructor). */
async function countRangeErrors (fn: () => Promise<void> | void): Promise<number> {
  const Original = globalThis.RangeError
  let made = 0
  const Counting = function (this: unknown, ...args: [string?]) {
    made++
    return Reflect.construct(Original, args, Counting)
  } as unknown as RangeErrorConstructor
  Object.defineProperty(Counting, 'prototype', { value: Original.prototype })
  globalThis.RangeError = Counting
  try {
    await fn()
  } finally {
    globalThis.RangeError = Original
  }
  return made
}

describe('network: length-prefix decoding without an error per read', () => {
  let a: TestNode | undefined
  let b: TestNode | undefined
  before(async () => {
    a = await startNode(OFF)
    b = await startNode(OFF)
    await b.net.dial(a.net.host.getMultiaddrs()[0]!)
  })
  after(async () => { await Promise.all([a, b].map(async n => { await n?.stop() })) })

  it('30 pings over Noise make next to no RangeError; a partial prefix still does', { timeout: 30_000 }, async () => {
    assert.equal(guardLengthDecoders(), true)
    const ends = lpDecoderStats.emptyEnds
    const made = await countRangeErrors(async () => {
      for (let i = 0; i < 30; i++) await b!.net.host.services.ping.ping(a!.net.peerId)
    })
    assert.ok(lpDecoderStats.emptyEnds >= ends + 30, `reads ended by the guard: ${lpDecoderStats.emptyEnds - ends}`)
    // without the guard every read at either end makes one: >= 60 for 30 round trips (a read that
    // ends inside a 2-byte prefix, or another decoder's, may still make a few)
    assert.ok(made < 10, `RangeErrors constructed for 30 pings: ${made}`)
    // the control: one byte of a two-byte prefix goes to the original decoder, which throws its own
    const dec = new LengthPrefixedDecoder({
      lengthDecoder: (d: Uint8ArrayList | Uint8Array) => {
        if (d.byteLength < 2) throw RangeError('Could not decode int16BE')
        return d instanceof Uint8Array ? (d[0]! << 8) + d[1]! : d.getUint16(0)
      },
      encodingLength: () => 2
    })
    let frames: unknown[] = []
    const control = await countRangeErrors(() => { frames = [...dec.decode(Uint8Array.of(0, 2, 7, 7, 0))] })
    assert.equal(frames.length, 1, 'the whole frame is decoded')
    assert.equal(control, 1, 'the partial prefix (one byte) made one RangeError')
  })
})

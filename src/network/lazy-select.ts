/**
 * Multistream-select without waiting for the answer, for the DHT's request streams.
 *
 * Why (issue 10, DHT lookups at N=100): libp2p 3.3 negotiates every outbound stream in full before
 * handing it over: it writes the multistream header and the protocol, waits for the listener to
 * echo both, and only then does kad-dht write its request. Each DHT query so pays one round trip
 * (20-80 ms between sites) and two more messages before the question leaves. go-libp2p's client
 * and js-libp2p before 3.0 (`negotiateFully: false`, which 3.3's interface still documents but no
 * longer implements) write the proposal and the first data together and read the echo later:
 * any multistream listener reads the two lines, answers, and leaves the data that followed in
 * the stream for the protocol handler.
 *
 * Here the muxer's `createStream` is wrapped: for a protocol `isLazy` accepts (the host passes its
 * DHT protocol), the new stream sends the proposal (header and protocol, length-prefixed, exactly
 * the bytes a listener echoes back) at once and is handed to libp2p with its protocol set, so
 * libp2p takes it as negotiated (its path for muxers that negotiate protocols themselves) and
 * kad-dht writes its request right behind the proposal, in the same turn (./turn-batching.ts then
 * sends both in one message). The stream's incoming bytes are checked against the expected echo
 * before the reader sees anything: the echo is taken off, anything else (`na`: the peer does not
 * speak the protocol) aborts the stream with an `UnsupportedProtocolError`, which kad-dht counts as
 * a failed query, as it did when the full negotiation failed. Inbound streams are not touched.
 *
 * Only for protocols whose dialer does not half-close before the listener has answered: a
 * js-libp2p 3 listener that gets the proposal, the data and the FIN together fails the stream (its
 * multistream handler gives the data back to a stream whose read side the FIN has closed:
 * "Cannot push data onto a stream that is closed"). kad-dht writes its request, reads the answer,
 * then closes.
 * `DMSNET_LAZY_SELECT=0` turns it off (for before/after benchmarks).
 */
import { UnsupportedProtocolError } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

const PROTOCOL_ID = '/multistream/1.0.0'

/** Counters for tests. */
export const lazySelectStats = {
  /** Streams opened with the proposal sent ahead. */
  proposed: 0,
  /** Of those, streams whose echo came back as expected. */
  confirmed: 0,
  /** Streams aborted because the answer was not the echo (the peer refused the protocol). */
  refused: 0
}

export function lazySelectWanted (value: string | undefined): boolean {
  return !(value === '0' || value === 'off' || value === 'false')
}
const enabled = lazySelectWanted(process.env.DMSNET_LAZY_SELECT)

function varint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return out
}

/** `/multistream/1.0.0\n` and `<protocol>\n`, each length-prefixed: what a dialer proposes and a listener echoes. */
export function proposal (protocol: string): Uint8Array {
  const parts: number[] = []
  for (const line of [`${PROTOCOL_ID}\n`, `${protocol}\n`]) {
    const b = Buffer.from(line, 'utf8')
    parts.push(...varint(b.byteLength), ...b)
  }
  return Uint8Array.from(parts)
}

interface LazyStream {
  protocol: string
  send: (data: Uint8Array) => boolean
  onData: (data: Uint8Array | Uint8ArrayList) => void
  abort: (err: Error) => void
}

function byteAt (data: Uint8Array | Uint8ArrayList, i: number): number {
  return data instanceof Uint8Array ? data[i]! : data.get(i)
}

/** Sends the proposal on a new outbound stream, marks it negotiated and takes the echo off what it receives. */
function proposeAhead (stream: LazyStream, protocol: string): void {
  const expect = proposal(protocol)
  let matched = 0
  const onData = stream.onData
  stream.onData = (data) => {
    let i = 0
    while (matched < expect.byteLength && i < data.byteLength) {
      if (byteAt(data, i) !== expect[matched]) {
        lazySelectStats.refused++
        stream.onData = () => {}
        stream.abort(new UnsupportedProtocolError(`the peer did not accept ${protocol}`))
        return
      }
      i++
      matched++
    }
    if (matched < expect.byteLength) return
    lazySelectStats.confirmed++
    stream.onData = onData
    if (i < data.byteLength) onData.call(stream, data instanceof Uint8Array ? data.subarray(i) : data.sublist(i))
  }
  stream.send(expect)
  stream.protocol = protocol
  lazySelectStats.proposed++
}

function isLazyStream (s: unknown): s is LazyStream {
  const x = s as Partial<LazyStream> | null
  return x != null && x.protocol === '' && typeof x.send === 'function' && typeof x.onData === 'function' && typeof x.abort === 'function'
}

type MuxerFactoryMaker = (components?: any) => StreamMuxerFactory // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Wraps a stream muxer factory (for libp2p's `streamMuxers`) so that outbound streams of the
 * protocols `isLazy` accepts skip the wait for multistream-select's answer. Properties of `make`
 * (e.g. the yamux window counters) are kept.
 */
export function lazySelect<M extends MuxerFactoryMaker> (make: M, isLazy: (protocol: string) => boolean): M {
  if (!enabled) return make
  const wrapped = (components?: unknown): StreamMuxerFactory => {
    const factory = make(components)
    const create = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (maConn) => {
      const muxer: StreamMuxer = create(maConn)
      const createStream = muxer.createStream.bind(muxer)
      muxer.createStream = async (options) => {
        const protocol = options?.protocol
        if (protocol == null || !isLazy(protocol)) return await createStream(options)
        const { protocol: _, ...rest } = options ?? {}
        const stream: Stream = await createStream(rest)
        // a muxer that negotiated by itself (or anything unrecognised) is left as it is
        if (isLazyStream(stream)) proposeAhead(stream, protocol)
        return stream
      }
      return muxer
    }
    return factory
  }
  return Object.assign(wrapped, make) as unknown as M
}

/**
 * One socket write per Noise send instead of one per buffer.
 *
 * Noise hands the connection a list per send: for every Noise message a 2-byte length and the
 * ciphertext with its tag, for a yamux window update as much as for a 1 MiB data frame.
 * `@libp2p/tcp` writes each buffer with its own `socket.write`; with TCP_NODELAY each becomes its
 * own syscall and its own TCP segment, so a 64 KiB message costs two writes and a small frame (a
 * window update, a request) two packets. The PSK protector already merges its output into one
 * buffer; this does the same for the public network by wrapping the connection encrypter: before
 * Noise takes the raw TCP connection, its `sendData` is replaced by one that writes the whole list
 * at once: a small list copied into one buffer (the copy costs far less than the syscall and the
 * packet it saves), a bulk list (over 64 KiB) corked, so Node passes it to one writev uncopied.
 *
 * Only `@libp2p/tcp` connections are changed (recognised by their `socket`); anything else (a
 * PSK stream, WebSockets, a relayed stream) is passed through untouched. If `@libp2p/tcp`'s
 * internals change so the connection is not recognised, writes simply stay as they were
 * (test/network/coalesced-writes.spec.ts then fails).
 * `DMSNET_COALESCE_WRITES=0` turns it off (for before/after benchmarks).
 *
 * The same wrapper gives Noise the addon's ChaCha20-Poly1305 (./noise-cipher.ts: no buffer per
 * call, one framed buffer per message sent, received messages decrypted in place), so a bulk send
 * reaches `sendData` as one buffer per 64 KiB message and a small one as a single buffer (no copy
 * here). `DMSNET_NOISE_NATIVE=0` turns that part off. And the secured connection writes what the
 * muxer sends it once per event-loop turn (./turn-batching.ts; `DMSNET_BATCH_SENDS=0`: off).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { streamlineNoiseStream, useNativeAead } from './noise-cipher.js'
import { isTcpConnection } from './tcp-conn.js'
import { batchSendsPerTurn } from './turn-batching.js'
import type { ConnectionEncrypter, MessageStream, SecureConnectionOptions } from '@libp2p/interface'

/** Writes coalesced per connection so far, for tests. */
export interface CoalescedWriteStats {
  /** Connections whose writes were coalesced. */
  connections: number
  /** Lists of two or more buffers written as one. */
  merged: number
  /** Of those, the bulk lists written corked (one writev, no copy). */
  corked: number
}

export const coalescedWriteStats: CoalescedWriteStats = { connections: 0, merged: 0, corked: 0 }

const enabled = process.env.DMSNET_COALESCE_WRITES !== '0'
/** Lists up to this size are copied into one buffer; larger ones go out corked (one writev, no copy). */
const COPY_MAX = Number(process.env.DMSNET_COALESCE_COPY_MAX ?? 64 * 1024)
const kCoalesced = Symbol.for('dmsnet.coalesced-writes')

function severalBuffers (data: Uint8ArrayList): boolean {
  let n = 0
  for (const _ of data) if (++n > 1) return true
  return false
}

/**
 * Makes `conn` (a `@libp2p/tcp` connection) send each list it is given as one buffer; returns
 * false, changing nothing, for any other kind of connection.
 */
export function coalesceWrites (conn: MessageStream): boolean {
  if (!enabled || !isTcpConnection(conn)) return false
  const tagged = conn as unknown as Record<symbol, boolean>
  if (tagged[kCoalesced] === true) return true
  tagged[kCoalesced] = true
  coalescedWriteStats.connections++
  const sendData = conn.sendData.bind(conn)
  const socket = conn.socket
  conn.sendData = (data: Uint8ArrayList) => {
    if (!severalBuffers(data)) return sendData(data)
    coalescedWriteStats.merged++
    // small lists (a window update, a request): one copy, one write
    if (data.byteLength <= COPY_MAX || socket.cork == null || socket.uncork == null) return sendData(new Uint8ArrayList(data.subarray()))
    // bulk: no copy; corked, Node hands the whole list to one writev
    coalescedWriteStats.corked++
    socket.cork()
    let canSendMore = true
    try {
      for (const buf of data) canSendMore = socket.write(buf)
    } finally {
      socket.uncork()
    }
    return { sentBytes: data.byteLength, canSendMore }
  }
  return true
}

type EncrypterFactory = (components: any) => ConnectionEncrypter // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Wraps a connection encrypter factory (Noise) so the TCP connections it secures write coalesced,
 * and so that Noise encrypts and decrypts with the addon's AEAD where it can (./noise-cipher.ts).
 */
export function withCoalescedWrites (factory: EncrypterFactory): EncrypterFactory {
  return (components) => {
    const inner = factory(components)
    const streamline = useNativeAead(inner)
    const secured = <T extends { connection: unknown }>(result: T, raw: MessageStream): T => {
      if (streamline) streamlineNoiseStream(result.connection)
      // and one Noise message per event-loop turn (./turn-batching.ts)
      batchSendsPerTurn(result.connection, raw)
      return result
    }
    return {
      protocol: inner.protocol,
      secureInbound: async (connection: MessageStream, options?: SecureConnectionOptions) => {
        coalesceWrites(connection)
        return secured(await inner.secureInbound(connection, options), connection)
      },
      secureOutbound: async (connection: MessageStream, options?: SecureConnectionOptions) => {
        coalesceWrites(connection)
        return secured(await inner.secureOutbound(connection, options), connection)
      }
    }
  }
}

/**
 * Recognises a `@libp2p/tcp` connection (an AbstractMultiaddrConnection over a Node `net.Socket`)
 * by its `socket`, for the byte-path code that depends on two of its properties: it writes each
 * buffer of a list with its own `socket.write` (src/network/coalesced-writes.ts), and every buffer
 * it delivers is a socket read of its own that nothing else reads or keeps (each read has its own
 * ArrayBuffer), so the layer above may decrypt it in place (src/swarm/protector.ts).
 */
import type { Uint8ArrayList } from 'uint8arraylist'

/** The part of `@libp2p/tcp`'s connection used here. */
export interface TcpConnInternals {
  socket: { write: (buf: Uint8Array) => boolean, cork?: () => void, uncork?: () => void }
  sendData: (data: Uint8ArrayList) => { sentBytes: number, canSendMore: boolean }
}

/** True for a `@libp2p/tcp` connection (a Node socket underneath). */
export function isTcpConnection (conn: unknown): conn is TcpConnInternals {
  const x = conn as Partial<TcpConnInternals> | undefined
  return typeof x?.sendData === 'function' && typeof x.socket?.write === 'function'
}

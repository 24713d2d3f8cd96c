/**
 * dmsnet's side of the two test-only protocols the Go peer also speaks (test/interop/go/testproto.go):
 * blob (stream N bytes, the receiver answers their 32-byte SHA-256) and echo.
 */
import { createHash, randomFillSync } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import type { Network } from '../../src/network/types.js'
import { drained } from '../../src/network/stream-drain.js'

export const BLOB = '/dmsnet-interop/blob/1.0.0'
export const ECHO = '/dmsnet-interop/echo/1.0.0'

const opts = { maxInboundStreams: 256, maxOutboundStreams: 256 }

/** Registers blob and echo handlers; `received` gets each blob's size and hash. */
export async function serveTestProtocols (net: Network, received: Array<{ bytes: number, hash: string }> = []): Promise<typeof received> {
  await net.handle(BLOB, async (stream) => {
    const h = createHash('sha256')
    let bytes = 0
    for await (const chunk of stream) {
      const buf = chunk.subarray()
      h.update(buf)
      bytes += buf.byteLength
    }
    const digest = h.digest()
    received.push({ bytes, hash: digest.toString('hex') })
    stream.send(digest)
    await stream.close()
  }, opts)
  await net.handle(ECHO, async (stream) => {
    for await (const chunk of stream) {
      if (!stream.send(chunk)) await drained(stream, { signal: AbortSignal.timeout(60_000) })
    }
    await stream.close()
  }, opts)
  return received
}

async function readAll (stream: Stream): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of stream) parts.push(chunk.subarray())
  return Buffer.concat(parts)
}

/** Streams `bytes` random bytes to `peer`'s blob handler; returns our hash, theirs and the time. */
export async function sendBlob (net: Network, peer: string, bytes: number): Promise<{ local: string, remote: string, ms: number }> {
  const started = Date.now()
  const stream = await net.dialProtocol(peer, BLOB, { signal: AbortSignal.timeout(10_000) })
  const answer = readAll(stream)
  const h = createHash('sha256')
  const chunk = 256 * 1024
  for (let left = bytes; left > 0; left -= chunk) {
    const buf = randomFillSync(Buffer.allocUnsafe(Math.min(chunk, left)))
    h.update(buf)
    if (!stream.send(buf)) await drained(stream, { signal: AbortSignal.timeout(60_000) })
  }
  await stream.close()
  const remote = await answer
  return { local: h.digest('hex'), remote: remote.toString('hex'), ms: Date.now() - started }
}

/** Opens `streams` echo streams to `peer` at once, `size` random bytes each; returns how many came back intact. */
export async function echoStreams (net: Network, peer: string, streams: number, size: number): Promise<number> {
  const one = async (): Promise<boolean> => {
    const stream = await net.dialProtocol(peer, ECHO, { signal: AbortSignal.timeout(30_000) })
    const data = randomFillSync(Buffer.allocUnsafe(size))
    const back = readAll(stream)
    if (!stream.send(data)) await drained(stream, { signal: AbortSignal.timeout(30_000) })
    await stream.close()
    return (await back).equals(data)
  }
  const results = await Promise.all(Array.from({ length: streams }, one))
  return results.filter(Boolean).length
}

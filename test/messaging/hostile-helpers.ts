/**
 * Attacker tools for the hostile-peer messaging tests, built from the project's own parts: a raw
 * direct-message client (frames in, answers by id), a gossip publisher that signs as any key it
 * minted, and a raw kad-dht PUT_VALUE sender.
 */
import { Libp2pRecord } from '@libp2p/record'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { GossipSub } from '@libp2p/gossipsub'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { decodeNack, FrameDecoder, FrameKind, type Frame } from '../../src/messaging/framing.js'
import { waitFor } from '../network/helpers.js'
import type { Network } from '../../src/network/types.js'

/** A raw client on the messaging protocol that collects answer frames by id. */
export class RawMessageClient {
  readonly answers = new Map<number, Frame>()
  private readonly decoder = new FrameDecoder(1 << 20)
  closed = false
  constructor (readonly stream: Stream) {
    stream.addEventListener('message', (e) => {
      for (const f of this.decoder.push(e.data)) if (!(f instanceof Error)) this.answers.set(f.id, f)
    })
    stream.addEventListener('close', () => { this.closed = true })
  }

  async answer (id: number, ms = 15_000): Promise<{ kind: number, reason?: string }> {
    await waitFor(() => this.answers.has(id), ms, `answer ${id}`)
    const f = this.answers.get(id)!
    return f.kind === FrameKind.Nack ? { kind: f.kind, reason: decodeNack(f.rest).reason } : { kind: f.kind }
  }

  /** The human-readable text of a Nack already answered (which bound refused it). */
  nackMessage (id: number): string | undefined {
    const f = this.answers.get(id)
    return f?.kind === FrameKind.Nack ? decodeNack(f.rest).message : undefined
  }
}

/**
 * Publishes `data` on `topic` from `net`'s gossipsub, signed at the gossip layer by `key` (as if
 * `key`'s peer had published it): the router's signing identity is swapped for one message.
 */
export async function publishAs (net: Network, key: PrivateKey, topic: string, data: Uint8Array): Promise<void> {
  const ps = net.host.services.pubsub as GossipSub & { publishConfig: unknown }
  const own = ps.publishConfig
  ps.publishConfig = { type: 0, author: peerIdFromPrivateKey(key), key: publicKeyToProtobuf(key.publicKey), privateKey: key }
  try {
    await ps.publish(topic, data)
  } finally {
    ps.publishConfig = own
  }
}

function varint (n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return out
}

function field (tag: number, bytes: Uint8Array): Uint8Array {
  return Uint8Array.from([(tag << 3) | 2, ...varint(bytes.byteLength), ...bytes])
}

/** A kad-dht PUT_VALUE message (dht.proto: type = 0, key = 2, record = 3). */
export function putValueMessage (key: Uint8Array, value: Uint8Array): Uint8Array {
  const record = new Libp2pRecord(key, value, new Date()).serialize()
  return Uint8Array.from([0x08, 0x00, ...field(2, key), ...field(3, record)])
}

/** What one PUT_VALUE came to: stored (the remote echoed it), or the error that ended the exchange. */
export type PutResult = { stored: true } | { stored: false, error: string }

/**
 * Sends one PUT_VALUE on a new DHT stream. A failure to open the stream throws (it says nothing
 * about the record); a failure after the PUT was sent is returned by name, so a test can tell the
 * remote resetting the stream (kad-dht's answer to a record its validator refused) from a timeout.
 */
export async function putValue (net: Network, peer: string, protocol: string, key: Uint8Array, value: Uint8Array): Promise<PutResult> {
  const stream = await net.dialProtocol(peer, protocol, { signal: AbortSignal.timeout(10_000) })
  const lp = lpStream(stream)
  try {
    await lp.write(putValueMessage(key, value), { signal: AbortSignal.timeout(10_000) })
    await lp.read({ signal: AbortSignal.timeout(10_000) })
    await stream.close().catch(() => {})
    return { stored: true }
  } catch (err) {
    stream.abort(new Error('refused'))
    return { stored: false, error: (err as Error).name }
  }
}

/** Sends PUT_VALUEs one after another on one DHT stream; returns how many were answered. */
export async function putMany (net: Network, peer: string, protocol: string, items: Array<[Uint8Array, Uint8Array]>): Promise<number> {
  const stream = await net.dialProtocol(peer, protocol, { signal: AbortSignal.timeout(10_000) })
  const lp = lpStream(stream)
  let answered = 0
  try {
    for (const [k, v] of items) {
      await lp.write(putValueMessage(k, v), { signal: AbortSignal.timeout(10_000) })
      await lp.read({ signal: AbortSignal.timeout(10_000) })
      answered++
    }
    await stream.close().catch(() => {})
  } catch {
    stream.abort(new Error('refused'))
  }
  return answered
}

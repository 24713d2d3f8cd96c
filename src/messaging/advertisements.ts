/**
 * Advertisements: small signed records in the DHT that say "peer P offers <data> under <key>".
 *
 * `advertise(key, data)` writes our record `/dmsnet-adv/<hash(key)>/<our id>` (see
 * `advert-record.ts`) and announces us as a provider of the key, so `query(key)` can find every
 * advertiser (provider lookup) and then read each one's own record. Records are re-advertised
 * every `messaging.advertiseIntervalMs` and expire after `messaging.advertTtlMs`;
 * `unadvertise(key)` overwrites ours with a signed tombstone.
 */
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { InvalidArgumentError } from '../errors.js'
import { ADVERT_NAMESPACE, MAX_ADVERT_DATA, MAX_ADVERT_KEY, advertDhtKey, signAdvert, verifyAdvert, type AdvertRecord } from './advert-record.js'
import type { MessagingCore } from './messaging.js'

export { ADVERT_NAMESPACE, advertValidator, advertSelector, advertDhtKey, signAdvert, verifyAdvert, decodeAdvert, type AdvertRecord } from './advert-record.js'

export interface Advertisement {
  key: string
  /** Peer id of the advertiser (verified signer). */
  peer: string
  data: Uint8Array
  seq: number
  expiresAt: number
}

const RAW = 0x55
const SHA256 = 0x12

/** The CID whose providers are the advertisers of `key`. */
export function advertCid (key: string): CID {
  return CID.createV1(RAW, Digest.create(SHA256, createHash('sha256').update(`${ADVERT_NAMESPACE}:${key}`).digest()))
}

async function drain (it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) { /* consume the query */ }
}

export class AdvertManager {
  private readonly mine = new Map<string, { data: Uint8Array, seq: number }>()
  private lastSeq = 0
  private timer?: ReturnType<typeof setInterval>

  constructor (private readonly core: MessagingCore) {
    core.startHooks.push(() => {
      this.timer = setInterval(() => { void this.readvertiseAll() }, core.config.advertiseIntervalMs)
      this.timer.unref()
    })
    core.stopHooks.push(() => { clearInterval(this.timer) })
    // a new host (e.g. joined a swarm) has an empty DHT view: publish our records there too
    core.hostChangeHooks.push(() => { void this.readvertiseAll() })
  }

  private get dht (): KadDHT {
    return this.core.network.dht
  }

  private nextSeq (): number {
    // newest wins: a wall-clock seq keeps winning across restarts, +1 keeps it strictly increasing
    this.lastSeq = Math.max(this.lastSeq + 1, Date.now())
    return this.lastSeq
  }

  private async put (key: string, data: Uint8Array, deleted: boolean, options?: AbortOptions): Promise<number> {
    const seq = this.nextSeq()
    const value = await signAdvert(this.core.privateKey, this.core.peerId, {
      key, seq, data, deleted, expiresAt: Date.now() + this.core.config.advertTtlMs
    })
    await drain(this.dht.put(advertDhtKey(key, this.core.peerId), value, options))
    return seq
  }

  async advertise (key: string, data: Uint8Array, options?: AbortOptions): Promise<void> {
    checkKey(key)
    if (!(data instanceof Uint8Array) || data.byteLength > MAX_ADVERT_DATA) throw new InvalidArgumentError(`data must be a Uint8Array of at most ${MAX_ADVERT_DATA} bytes`)
    const seq = await this.put(key, data, false, options)
    this.mine.set(key, { data, seq })
    await drain(this.dht.provide(advertCid(key), options)).catch((err: Error) => {
      this.core.logger?.warn({ err, key }, 'announcing as provider failed')
    })
  }

  async unadvertise (key: string, options?: AbortOptions): Promise<void> {
    checkKey(key)
    this.mine.delete(key)
    await this.dht.cancelReprovide(advertCid(key), options).catch(() => {})
    await this.put(key, new Uint8Array(0), true, options)
  }

  /** Keys we currently advertise. */
  advertised (): string[] {
    return [...this.mine.keys()]
  }

  /** Reads one advertiser's record for `key` (undefined when absent, deleted or invalid). */
  async get (key: string, peer: string | PeerId, options?: AbortOptions): Promise<Advertisement | undefined> {
    checkKey(key)
    const dhtKey = advertDhtKey(key, peer)
    let best: AdvertRecord | undefined
    try {
      for await (const ev of this.dht.get(dhtKey, options)) {
        if (ev.name !== 'VALUE') continue
        try {
          const rec = await verifyAdvert(dhtKey, ev.value)
          if (best == null || rec.seq > best.seq) best = rec
        } catch { /* invalid copies never count */ }
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError' || options?.signal?.aborted === true) throw err
    }
    if (best == null || best.deleted) return undefined
    return { key: best.key, peer: best.signer, data: best.data, seq: best.seq, expiresAt: best.expiresAt }
  }

  /** Every valid, live advertisement for `key`, one per advertiser. */
  async query (key: string, options?: AbortOptions): Promise<Advertisement[]> {
    checkKey(key)
    const peers = new Set<string>()
    if (this.mine.has(key)) peers.add(this.core.peerId.toString())
    try {
      for await (const ev of this.dht.findProviders(advertCid(key), options)) {
        if (ev.name === 'PROVIDER') for (const p of ev.providers) peers.add(p.id.toString())
      }
    } catch (err) {
      if (options?.signal?.aborted === true) throw err
    }
    const found = await Promise.all([...peers].map(async p => this.get(key, p, options).catch(() => undefined)))
    return found.filter((a): a is Advertisement => a != null).sort((a, b) => a.peer.localeCompare(b.peer))
  }

  private async readvertiseAll (): Promise<void> {
    for (const [key, { data }] of this.mine) {
      await this.advertise(key, data).catch((err: Error) => {
        this.core.logger?.warn({ err, key }, 're-advertising failed')
      })
    }
  }
}

function checkKey (key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_ADVERT_KEY) {
    throw new InvalidArgumentError(`advert key must be a string of 1-${MAX_ADVERT_KEY} characters`)
  }
}

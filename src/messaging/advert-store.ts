/**
 * The datastore under every host's DHT: an in-memory store that keeps quotas on advertisement
 * records (`/dmsnet-adv/<hash>/<signer>`, see advert-record.ts).
 *
 * kad-dht stores whatever record passes the namespace validator, in the libp2p datastore, with no
 * bound of its own; a single identity could fill a node's memory with valid records under
 * distinct keys. This store counts advert records and their bytes per signer and in all, and a
 * record past a quota is silently not stored (counted in `quotaRefusals`, by quota in
 * `refusedBy`), after first dropping the signer's records whose lifetime has ended (kad-dht itself
 * only drops old records when someone reads them). Silently, because a DHT node is a cache that
 * may drop records at any time anyway, and an error would make kad-dht reset the whole stream:
 * the flooder learns nothing and pays for every record it sends. Replacing a record under the
 * same key only counts the change in size. Everything else passes through untouched.
 */
import { Libp2pRecord } from '@libp2p/record'
import { MemoryDatastore } from 'datastore-core/memory'
import { base32 } from 'multiformats/bases/base32'
import { ADVERT_NAMESPACE, decodeAdvert, MAX_ADVERT_LIFETIME_MS } from './advert-record.js'
import type { AbortOptions } from '@libp2p/interface'

type Key = Parameters<MemoryDatastore['put']>[0]

export interface AdvertStoreLimits {
  /** Advert records stored per signer. Default 64. */
  maxRecordsPerSigner: number
  /** Bytes of advert records stored per signer. Default 1 MiB. */
  maxBytesPerSigner: number
  /** Advert records stored in all. Default 16384. */
  maxRecords: number
  /** Bytes of advert records stored in all. Default 64 MiB. */
  maxBytes: number
}

export const DEFAULT_ADVERT_STORE_LIMITS: Readonly<AdvertStoreLimits> = Object.freeze({
  maxRecordsPerSigner: 64,
  maxBytesPerSigner: 1024 * 1024,
  maxRecords: 16384,
  maxBytes: 64 * 1024 * 1024
})

export type AdvertQuota = 'signer-records' | 'signer-bytes' | 'total-records' | 'total-bytes'

export interface AdvertStoreStats {
  records: number
  bytes: number
  signers: number
  /** Records not stored because of a quota. */
  quotaRefusals: number
  refusedBy: Record<AdvertQuota, number>
  /** Records dropped because their lifetime ended. */
  expiredDropped: number
}

interface Held { signer: string, bytes: number, expiresAt: number }

const RECORD_SEGMENT = '/record/'
const ADVERT_PREFIX = `/${ADVERT_NAMESPACE}/`

/** The signer of the advert record a datastore key holds, or undefined for any other key. */
function advertSigner (key: string): string | undefined {
  const i = key.lastIndexOf(RECORD_SEGMENT)
  if (i < 0) return undefined
  let dhtKey: string
  try {
    dhtKey = new TextDecoder().decode(base32.baseDecode(key.slice(i + RECORD_SEGMENT.length)))
  } catch {
    return undefined
  }
  if (!dhtKey.startsWith(ADVERT_PREFIX)) return undefined
  return dhtKey.slice(dhtKey.lastIndexOf('/') + 1)
}

function expiryOf (value: Uint8Array, now: number): number {
  try {
    return decodeAdvert(Libp2pRecord.deserialize(value).value).expiresAt
  } catch {
    return now + MAX_ADVERT_LIFETIME_MS // the validator let it in: it cannot claim more than this
  }
}

export class AdvertQuotaDatastore extends MemoryDatastore {
  private readonly limits: AdvertStoreLimits
  private readonly held = new Map<string, Held>()
  private readonly signers = new Map<string, { records: number, bytes: number }>()
  private bytes = 0
  private quotaRefusals = 0
  private readonly refusedBy: Record<AdvertQuota, number> = { 'signer-records': 0, 'signer-bytes': 0, 'total-records': 0, 'total-bytes': 0 }
  private expiredDropped = 0
  private lastSweep = 0

  constructor (limits: Partial<AdvertStoreLimits> = {}) {
    super()
    this.limits = { ...DEFAULT_ADVERT_STORE_LIMITS, ...limits }
  }

  stats (): AdvertStoreStats {
    return { records: this.held.size, bytes: this.bytes, signers: this.signers.size, quotaRefusals: this.quotaRefusals, refusedBy: { ...this.refusedBy }, expiredDropped: this.expiredDropped }
  }

  override put (key: Key, val: Uint8Array, options?: AbortOptions): ReturnType<MemoryDatastore['put']> {
    const k = key.toString()
    const signer = advertSigner(k)
    if (signer == null) return super.put(key, val, options)
    const now = Date.now()
    let over = this.over(k, signer, val.byteLength)
    if (over != null) {
      this.sweep(now, signer)
      over = this.over(k, signer, val.byteLength)
    }
    if (over != null) {
      this.quotaRefusals++
      this.refusedBy[over]++
      return key
    }
    const result = super.put(key, val, options)
    this.forget(k)
    this.account(k, { signer, bytes: val.byteLength, expiresAt: expiryOf(val, now) })
    return result
  }

  override delete (key: Key, options?: AbortOptions): void {
    this.forget(key.toString())
    super.delete(key, options)
  }

  /** Which quota storing `bytes` under `k` for `signer` would break, if any. */
  private over (k: string, signer: string, bytes: number): AdvertQuota | undefined {
    const prev = this.held.get(k)
    const s = this.signers.get(signer) ?? { records: 0, bytes: 0 }
    const addRecords = prev == null ? 1 : 0
    const addBytes = bytes - (prev?.bytes ?? 0)
    if (s.records + addRecords > this.limits.maxRecordsPerSigner) return 'signer-records'
    if (s.bytes + addBytes > this.limits.maxBytesPerSigner) return 'signer-bytes'
    if (this.held.size + addRecords > this.limits.maxRecords) return 'total-records'
    if (this.bytes + addBytes > this.limits.maxBytes) return 'total-bytes'
    return undefined
  }

  /** Drops records past their lifetime: the signer's own at once, everyone's at most once a second. */
  private sweep (now: number, signer: string): void {
    const all = now - this.lastSweep >= 1000
    if (all) this.lastSweep = now
    for (const [k, h] of this.held) {
      if (h.expiresAt >= now || (!all && h.signer !== signer)) continue
      this.expiredDropped++
      this.forget(k)
      // the memory store only reads the key's string form
      super.delete({ toString: () => k } as unknown as Key)
    }
  }

  private account (k: string, h: Held): void {
    this.held.set(k, h)
    const s = this.signers.get(h.signer) ?? { records: 0, bytes: 0 }
    s.records++
    s.bytes += h.bytes
    this.signers.set(h.signer, s)
    this.bytes += h.bytes
  }

  private forget (k: string): void {
    const h = this.held.get(k)
    if (h == null) return
    this.held.delete(k)
    this.bytes -= h.bytes
    const s = this.signers.get(h.signer)
    if (s == null) return
    s.records--
    s.bytes -= h.bytes
    if (s.records <= 0) this.signers.delete(h.signer)
  }
}

/** The advert-store counters of a running host's DHT (undefined if it runs another datastore). */
export function advertStoreStatsOf (host: unknown): AdvertStoreStats | undefined {
  const ds = (host as { components?: { datastore?: unknown } } | undefined)?.components?.datastore
  return ds instanceof AdvertQuotaDatastore ? ds.stats() : undefined
}

/**
 * Bounded replay cache: remembers (sender, nonce) pairs until their envelope expires.
 *
 * Memory is bounded per sender and in the number of senders. When an entry has to be forgotten
 * before it expires, its expiry becomes a *floor*: from then on envelopes of that sender expiring
 * at or before the floor are refused, so forgetting never re-opens a replay window (the price is
 * that an honest sender flooding past the bound sees its oldest-expiring messages refused).
 */

export interface ReplayCacheOptions {
  /** Nonces remembered per sender before the oldest is forgotten (default 16384). */
  maxEntriesPerSender?: number
  /** Senders tracked before the least recently seen one is forgotten (default 4096). */
  maxSenders?: number
}

interface SenderCache {
  nonces: Map<string, number>
  floor: number
  maxExpiry: number
  lastSweep: number
}

export class ReplayCache {
  private readonly maxEntries: number
  private readonly maxSenders: number
  private readonly senders = new Map<string, SenderCache>()
  private globalFloor = 0

  constructor (options: ReplayCacheOptions = {}) {
    this.maxEntries = options.maxEntriesPerSender ?? 16384
    this.maxSenders = options.maxSenders ?? 4096
  }

  /**
   * Records the nonce and returns true when the envelope is fresh; false when it was seen before
   * (or may have been: expiry at or below a forgotten entry's).
   */
  check (sender: string, nonce: Uint8Array, expiry: number, now: number = Date.now()): boolean {
    let c = this.senders.get(sender)
    if (c == null) {
      c = { nonces: new Map(), floor: this.globalFloor, maxExpiry: 0, lastSweep: now }
      if (this.senders.size >= this.maxSenders) this.evictSender()
    } else {
      this.senders.delete(sender) // re-insert below: the Map's order is least-recently-seen first
    }
    this.senders.set(sender, c)

    if (expiry <= c.floor) return false
    const key = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64')
    if (c.nonces.has(key)) return false

    if (c.nonces.size >= this.maxEntries) {
      // Sweeping costs O(n): do it at most once a second, else forget the oldest inserted.
      if (now - c.lastSweep >= 1000) {
        c.lastSweep = now
        for (const [k, exp] of c.nonces) if (exp < now) c.nonces.delete(k)
      }
      while (c.nonces.size >= this.maxEntries) {
        const first = c.nonces.entries().next().value as [string, number]
        c.nonces.delete(first[0])
        if (first[1] > c.floor) c.floor = first[1]
      }
    }
    c.nonces.set(key, expiry)
    if (expiry > c.maxExpiry) c.maxExpiry = expiry
    return true
  }

  /** Number of remembered nonces over all senders. */
  get size (): number {
    let n = 0
    for (const c of this.senders.values()) n += c.nonces.size
    return n
  }

  /** Drops every expired entry (call now and then; `check` also cleans as it goes). */
  prune (now: number = Date.now()): void {
    for (const [sender, c] of this.senders) {
      for (const [k, exp] of c.nonces) if (exp < now) c.nonces.delete(k)
      if (c.nonces.size === 0 && c.floor < now) this.senders.delete(sender)
    }
  }

  private evictSender (): void {
    const oldest = this.senders.entries().next().value as [string, SenderCache] | undefined
    if (oldest == null) return
    this.senders.delete(oldest[0])
    const m = Math.max(oldest[1].maxExpiry, oldest[1].floor)
    if (m > this.globalFloor) this.globalFloor = m
  }
}

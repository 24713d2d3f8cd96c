/**
 * Bounded replay cache: remembers (sender, nonce) pairs until their envelope expires.
 *
 * Memory is bounded per sender and in the number of senders. When an entry of a sender has to be
 * forgotten before it expires, its expiry becomes that sender's *floor*: from then on its
 * envelopes expiring at or before the floor are refused, so forgetting never re-opens a replay
 * window (the price falls on the sender that floods past its own bound, nobody else).
 *
 * Senders are only ever forgotten once they have nothing left to remember (every nonce expired).
 * When every slot holds a sender with live entries, a *new* sender's envelope is refused as
 * `full` (the caller counts it as a flood) rather than evicting someone: evicting would need a
 * floor that one peer minting many keys could raise for everyone.
 */

/** `fresh`: accept; `replayed`: seen (or may have been); `full`: no room to remember a new sender. */
export type ReplayVerdict = 'fresh' | 'replayed' | 'full'

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
  private lastFullPrune = 0

  constructor (options: ReplayCacheOptions = {}) {
    this.maxEntries = options.maxEntriesPerSender ?? 16384
    this.maxSenders = options.maxSenders ?? 4096
  }

  /** Records the nonce of a fresh envelope; see `ReplayVerdict`. */
  check (sender: string, nonce: Uint8Array, expiry: number, now: number = Date.now()): ReplayVerdict {
    let c = this.senders.get(sender)
    if (c == null) {
      if (this.senders.size >= this.maxSenders && !this.evictIdleSender(now)) return 'full'
      c = { nonces: new Map(), floor: 0, maxExpiry: 0, lastSweep: now }
    } else {
      this.senders.delete(sender) // re-insert below: the Map's order is least-recently-seen first
    }
    this.senders.set(sender, c)

    if (expiry <= c.floor) return 'replayed'
    const key = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64')
    if (c.nonces.has(key)) return 'replayed'

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
    return 'fresh'
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

  /** Forgets the least recently seen sender with nothing left to remember; false if none. */
  private evictIdleSender (now: number): boolean {
    const idle = (c: SenderCache): boolean => c.maxExpiry < now && c.floor < now
    // the least recently seen are first: they are the likeliest to be idle
    let scanned = 0
    for (const [sender, c] of this.senders) {
      if (idle(c)) { this.senders.delete(sender); return true }
      if (++scanned >= 64) break
    }
    // a full scan costs O(senders): at most once a second
    if (now - this.lastFullPrune < 1000) return false
    this.lastFullPrune = now
    for (const [sender, c] of this.senders) {
      if (idle(c)) { this.senders.delete(sender); return true }
    }
    return false
  }
}

/**
 * Bounded replay cache: remembers (sender, nonce) pairs until their envelope expires.
 *
 * Memory is bounded per sender, per *propagating peer* (the peer that handed us the envelope:
 * the remote of a direct stream, gossipsub's propagation source) and globally:
 * - per sender: at most `maxEntriesPerSender` nonces. When an entry has to be forgotten before
 *   it expires, its expiry becomes that sender's *floor*: from then on its envelopes expiring at
 *   or before the floor are refused, so forgetting never re-opens a replay window (the price falls
 *   on the sender that floods past its own bound, nobody else);
 * - per propagating peer: at most `maxSendersPerPeer` new senders introduced and
 *   `maxEntriesPerPeer` live nonces delivered. Past either, its envelopes are refused as `quota`
 *   (the caller counts a `flood` and scores it against that peer), while other peers' envelopes,
 *   including those of brand-new senders, still get in: one peer minting many keys can no longer
 *   lock everyone else out;
 * - globally: `maxSenders` senders and `maxEntries` nonces; past those, `full` (it takes many
 *   peers, each within its quota, to get there).
 * Senders are only ever forgotten once they have nothing left to remember (every nonce expired).
 */

/**
 * `fresh`: accept; `replayed`: seen (or may have been); `quota`: the propagating peer is over its
 * share; `full`: no room at all.
 */
export type ReplayVerdict = 'fresh' | 'replayed' | 'quota' | 'full'

export interface ReplayCacheOptions {
  /** Nonces remembered per sender before the oldest is forgotten (default 16384). */
  maxEntriesPerSender?: number
  /** Senders tracked in all (default 65536). */
  maxSenders?: number
  /** New senders one propagating peer may introduce while they are live (default 1024). */
  maxSendersPerPeer?: number
  /** Live nonces one propagating peer may have us remember (default 65536). */
  maxEntriesPerPeer?: number
  /** Live nonces in all (default 1,048,576). */
  maxEntries?: number
}

export const DEFAULT_REPLAY_LIMITS = Object.freeze({
  maxEntriesPerSender: 16384,
  maxSenders: 65536,
  maxSendersPerPeer: 1024,
  maxEntriesPerPeer: 65536,
  maxEntries: 1_048_576
})

interface PeerUsage { id: string, senders: number, entries: number }
interface Entry { exp: number, via: PeerUsage }

interface SenderCache {
  nonces: Map<string, Entry>
  /**
   * Where eviction left off in `nonces`, oldest first. A fresh `entries()` iterator would skip
   * every slot already deleted at the front of the Map's table (V8 compacts it only when it
   * fills), which cost tens of microseconds per message at a full cache.
   */
  oldest?: MapIterator<[string, Entry]>
  floor: number
  maxExpiry: number
  lastSweep: number
  owner: PeerUsage
}

export interface ReplayCacheStats {
  senders: number
  entries: number
  /** Propagating peers with something remembered on their account. */
  peers: number
  quotaRefusals: number
  fullRefusals: number
}

export class ReplayCache {
  private readonly limits: Required<ReplayCacheOptions>
  private readonly senders = new Map<string, SenderCache>()
  private readonly peers = new Map<string, PeerUsage>()
  private entries = 0
  private lastFullPrune = 0
  private active?: PeerUsage
  private quotaRefusals = 0
  private fullRefusals = 0

  constructor (options: ReplayCacheOptions = {}) {
    this.limits = { ...DEFAULT_REPLAY_LIMITS }
    for (const [k, v] of Object.entries(options)) if (v != null) (this.limits as Record<string, number>)[k] = v
  }

  /** Records the nonce of a fresh envelope received through `via` (default: the sender itself). */
  check (sender: string, nonce: Uint8Array, expiry: number, now: number = Date.now(), via: string = sender): ReplayVerdict {
    const u = this.usage(via)
    this.active = u
    try {
      let c = this.senders.get(sender)
      if (c == null) {
        if (u.senders >= this.limits.maxSendersPerPeer && !this.pruneFor(u, now, 'senders')) return this.refuse('quota')
        if (this.senders.size >= this.limits.maxSenders && !this.evictIdleSender(now)) return this.refuse('full')
        c = { nonces: new Map(), floor: 0, maxExpiry: 0, lastSweep: now, owner: u }
        u.senders++
      } else {
        this.senders.delete(sender) // re-insert below: the Map's order is least-recently-seen first
      }
      this.senders.set(sender, c)

      if (expiry <= c.floor) return 'replayed'
      const key = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64')
      if (c.nonces.has(key)) return 'replayed'
      if (u.entries >= this.limits.maxEntriesPerPeer && !this.pruneFor(u, now, 'entries')) return this.refuse('quota')
      if (this.entries >= this.limits.maxEntries && !this.pruneFor(undefined, now, 'entries')) return this.refuse('full')

      if (c.nonces.size >= this.limits.maxEntriesPerSender) {
        // Sweeping costs O(n): do it at most once a second, else forget the oldest inserted.
        if (now - c.lastSweep >= 1000) {
          c.lastSweep = now
          for (const [k, e] of c.nonces) if (e.exp < now) this.drop(c, k, e)
        }
        while (c.nonces.size >= this.limits.maxEntriesPerSender) {
          let next = c.oldest?.next()
          if (next == null || next.done === true) {
            c.oldest = c.nonces.entries()
            next = c.oldest.next()
          }
          const [k, e] = next.value as [string, Entry]
          this.drop(c, k, e)
          if (e.exp > c.floor) c.floor = e.exp
        }
      }
      c.nonces.set(key, { exp: expiry, via: u })
      u.entries++
      this.entries++
      if (expiry > c.maxExpiry) c.maxExpiry = expiry
      return 'fresh'
    } finally {
      this.active = undefined
      this.release(u)
    }
  }

  /** Number of remembered nonces over all senders. */
  get size (): number {
    return this.entries
  }

  stats (): ReplayCacheStats {
    return { senders: this.senders.size, entries: this.entries, peers: this.peers.size, quotaRefusals: this.quotaRefusals, fullRefusals: this.fullRefusals }
  }

  /** What one propagating peer has on its account (tests, diagnostics). */
  usageOf (peer: string): { senders: number, entries: number } {
    const u = this.peers.get(peer)
    return { senders: u?.senders ?? 0, entries: u?.entries ?? 0 }
  }

  /** Drops every expired entry (call now and then; `check` also cleans as it goes). */
  prune (now: number = Date.now()): void {
    for (const [sender, c] of this.senders) {
      for (const [k, e] of c.nonces) if (e.exp < now) this.drop(c, k, e)
      if (c.nonces.size === 0 && c.floor < now) this.forget(sender, c)
    }
  }

  private refuse (v: 'quota' | 'full'): ReplayVerdict {
    if (v === 'quota') this.quotaRefusals++
    else this.fullRefusals++
    return v
  }

  private usage (peer: string): PeerUsage {
    let u = this.peers.get(peer)
    if (u == null) {
      u = { id: peer, senders: 0, entries: 0 }
      this.peers.set(peer, u)
    }
    return u
  }

  private release (u: PeerUsage): void {
    // the usage of the check in progress stays registered: it may be charged again below
    if (u !== this.active && u.senders <= 0 && u.entries <= 0) this.peers.delete(u.id)
  }

  private drop (c: SenderCache, key: string, e: Entry): void {
    c.nonces.delete(key)
    e.via.entries--
    this.entries--
    this.release(e.via)
  }

  private forget (sender: string, c: SenderCache): void {
    for (const [k, e] of c.nonces) this.drop(c, k, e)
    this.senders.delete(sender)
    c.owner.senders--
    this.release(c.owner)
  }

  /** A full expiry sweep (at most once a second); true if `u` (or the whole cache) is back under its bound. */
  private pruneFor (u: PeerUsage | undefined, now: number, what: 'senders' | 'entries'): boolean {
    if (now - this.lastFullPrune < 1000) return false
    this.lastFullPrune = now
    this.prune(now)
    if (u == null) return this.entries < this.limits.maxEntries
    return what === 'senders' ? u.senders < this.limits.maxSendersPerPeer : u.entries < this.limits.maxEntriesPerPeer
  }

  /** Forgets the least recently seen sender with nothing left to remember; false if none. */
  private evictIdleSender (now: number): boolean {
    const idle = (c: SenderCache): boolean => c.maxExpiry < now && c.floor < now
    // the least recently seen are first: they are the likeliest to be idle
    let scanned = 0
    for (const [sender, c] of this.senders) {
      if (idle(c)) { this.forget(sender, c); return true }
      if (++scanned >= 64) break
    }
    // a full scan costs O(senders): at most once a second
    if (now - this.lastFullPrune < 1000) return false
    this.lastFullPrune = now
    for (const [sender, c] of this.senders) {
      if (idle(c)) { this.forget(sender, c); return true }
    }
    return false
  }
}

/**
 * The link model of the scale bench, without any I/O: which site each node is in, the round-trip
 * time of every site pair, and a delay line that holds each packet for its link's one-way delay,
 * drops the configured loss fraction and caps each node's uplink rate (a bounded queue behind a
 * serialiser, tail drop). The scale bench's link process (scale-linkd.ts) feeds it packets read
 * from the nodes' TUN devices and writes what comes due; test/bench/ checks it with a fake clock.
 *
 * Held packets sit in a timer wheel of 1 ms slots: pushing is O(1), and one wakeup delivers every
 * packet that came due since the last one, grouped by destination (one TUN write per node).
 */

/** A small deterministic PRNG (mulberry32): the same seed gives the same sites, delays and drops. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface SiteMatrixOptions {
  sites: number
  /** RTT between two different sites: drawn uniformly from [minMs, maxMs] per pair */
  minMs: number
  maxMs: number
  /** RTT inside one site */
  intraMs: number
  seed: number
}

/** Symmetric site-to-site RTTs in ms (`m[a][b] === m[b][a]`, `m[a][a] === intraMs`). */
export function siteRttMatrix (o: SiteMatrixOptions): number[][] {
  if (!Number.isInteger(o.sites) || o.sites < 1) throw new RangeError('sites must be a positive integer')
  if (!(o.minMs >= 0 && o.maxMs >= o.minMs && o.intraMs >= 0)) throw new RangeError('need 0 <= minMs <= maxMs and intraMs >= 0')
  const rnd = seededRandom(o.seed)
  const m = Array.from({ length: o.sites }, () => new Array<number>(o.sites).fill(o.intraMs))
  for (let a = 0; a < o.sites; a++) {
    for (let b = a + 1; b < o.sites; b++) {
      // two sites at least apart: the spread covers the range's ends whatever the draw
      const rtt = o.sites === 2 ? o.maxMs : Math.round(o.minMs + rnd() * (o.maxMs - o.minMs))
      m[a]![b] = rtt
      m[b]![a] = rtt
    }
  }
  if (o.sites > 2) {
    // pin the extremes so every run covers the whole configured range
    m[0]![1] = m[1]![0] = o.minMs
    m[0]![o.sites - 1] = m[o.sites - 1]![0] = o.maxMs
  }
  return m
}

export interface DelayLineOptions {
  /** one-way delay in ms from node `src` to node `dst` (half the pair's RTT) */
  oneWayMs: (src: number, dst: number) => number
  /** fraction of packets dropped, each independently, per direction (0.005 = 0.5%) */
  loss: number
  /** uplink rate of every node in bits/s (0 = no cap) */
  rateBitsPerSec: number
  /** a packet that would wait longer than this behind the uplink is dropped (tail drop) */
  maxQueueMs: number
  /** uniform [0, 1) source for the loss draws */
  random: () => number
  /** slots in the wheel (1 ms each); longest delay + queue must stay below it */
  wheelSlots?: number
}

export interface DelayLineStats {
  pushed: number
  delivered: number
  lost: number
  /** dropped because the sender's uplink queue was full */
  overflow: number
  /** dropped because delay + queueing did not fit in the wheel (a misconfiguration) */
  tooLate: number
  held: number
  /** the most packets held at once (queue depth of the whole line) */
  heldMax: number
  /**
   * Extra hold time: ms a packet left after its due slot because the wakeup came late (a busy
   * process or machine), summed and the worst; and packets more than 5 ms late. The configured
   * delay itself is not counted, so these say how far the line strayed from its configuration.
   */
  lateSumMs: number
  lateMaxMs: number
  late5ms: number
  /** ms packets waited behind their sender's uplink cap (part of the model, not an error), summed and the worst */
  queueWaitSumMs: number
  queueWaitMaxMs: number
}

interface Held { dst: number, packet: Uint8Array }

export class DelayLine {
  private readonly slots: Held[][]
  private readonly busyUntil = new Map<number, number>()
  private cursor: number | undefined
  private readonly o: Required<DelayLineOptions>
  readonly stats: DelayLineStats = { pushed: 0, delivered: 0, lost: 0, overflow: 0, tooLate: 0, held: 0, heldMax: 0, lateSumMs: 0, lateMaxMs: 0, late5ms: 0, queueWaitSumMs: 0, queueWaitMaxMs: 0 }

  constructor (options: DelayLineOptions) {
    this.o = { wheelSlots: 4096, ...options }
    if (!(this.o.loss >= 0 && this.o.loss < 1)) throw new RangeError('loss must be in [0, 1)')
    if (!(this.o.rateBitsPerSec >= 0) || !(this.o.maxQueueMs >= 0)) throw new RangeError('rate and queue must be >= 0')
    this.slots = Array.from({ length: this.o.wheelSlots }, () => [])
  }

  /**
   * Takes a packet from `src` to `dst` at time `now` (ms). Returns what happened to it: held for
   * later delivery, or dropped (lost on the link, uplink queue full, delay beyond the wheel).
   */
  push (src: number, dst: number, packet: Uint8Array, now: number): 'held' | 'lost' | 'overflow' | 'too-late' {
    this.stats.pushed++
    if (this.o.loss > 0 && this.o.random() < this.o.loss) { this.stats.lost++; return 'lost' }
    let departs = now
    if (this.o.rateBitsPerSec > 0) {
      const start = Math.max(now, this.busyUntil.get(src) ?? 0)
      if (start - now > this.o.maxQueueMs) { this.stats.overflow++; return 'overflow' }
      this.stats.queueWaitSumMs += start - now
      if (start - now > this.stats.queueWaitMaxMs) this.stats.queueWaitMaxMs = start - now
      departs = start + packet.byteLength * 8 * 1000 / this.o.rateBitsPerSec
      this.busyUntil.set(src, departs)
    }
    const due = Math.ceil(departs + this.o.oneWayMs(src, dst))
    const base = this.cursor ?? Math.floor(now)
    if (due - base >= this.o.wheelSlots) { this.stats.tooLate++; return 'too-late' }
    this.cursor ??= base
    // a due time already passed (no delay configured) goes into the next slot to be read
    this.slots[Math.max(due, this.cursor) % this.o.wheelSlots]!.push({ dst, packet })
    if (++this.stats.held > this.stats.heldMax) this.stats.heldMax = this.stats.held
    return 'held'
  }

  /** Every packet due at or before `now`, grouped by destination, in the order they were pushed per slot. */
  due (now: number): Map<number, Uint8Array[]> {
    const out = new Map<number, Uint8Array[]>()
    if (this.cursor == null) return out
    const until = Math.floor(now)
    // never walk the wheel more than once around: a long stall delivers everything held
    const last = Math.min(until, this.cursor + this.o.wheelSlots - 1)
    for (let t = this.cursor; t <= last; t++) {
      const slot = this.slots[t % this.o.wheelSlots]!
      if (slot.length === 0) continue
      // a packet is due at the start of its slot; now - t is how long it stayed beyond that
      const late = until - t
      this.stats.lateSumMs += late * slot.length
      if (late > this.stats.lateMaxMs) this.stats.lateMaxMs = late
      if (late > 5) this.stats.late5ms += slot.length
      for (const h of slot) {
        let list = out.get(h.dst)
        if (list == null) out.set(h.dst, list = [])
        list.push(h.packet)
      }
      this.stats.delivered += slot.length
      this.stats.held -= slot.length
      slot.length = 0
    }
    this.cursor = until + 1
    if (this.stats.held === 0) this.cursor = undefined
    return out
  }

  /** Starts the peaks (heldMax, lateMaxMs, queueWaitMaxMs) over, so each phase of a run gets its own. */
  resetPeaks (): void {
    this.stats.heldMax = this.stats.held
    this.stats.lateMaxMs = 0
    this.stats.queueWaitMaxMs = 0
  }

  /** When the next held packet comes due (ms), or undefined when nothing is held. */
  nextDue (): number | undefined {
    if (this.cursor == null || this.stats.held === 0) return undefined
    for (let t = this.cursor; t < this.cursor + this.o.wheelSlots; t++) {
      if (this.slots[t % this.o.wheelSlots]!.length > 0) return t
    }
    return undefined
  }
}

/** The IPv4 destination of a packet as a number, or undefined when it is not IPv4. */
export function ipv4Destination (packet: Uint8Array): number | undefined {
  if (packet.byteLength < 20 || (packet[0]! >> 4) !== 4) return undefined
  return ((packet[16]! << 24) | (packet[17]! << 16) | (packet[18]! << 8) | packet[19]!) >>> 0
}

/** `a.b.c.d` -> number. */
export function ipv4ToNumber (ip: string): number {
  const p = ip.split('.').map(Number)
  if (p.length !== 4 || p.some(x => !Number.isInteger(x) || x < 0 || x > 255)) throw new RangeError(`not an IPv4 address: ${ip}`)
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0
}

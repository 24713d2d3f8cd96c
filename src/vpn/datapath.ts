/**
 * The data path: TUN <-> member links, never waiting for control.
 *
 *   TUN read batch -> (pure TCP ACKs superseded by the next record left out: ./ack-thin.ts) ->
 *   `table.lookup` per record (destination -> member) -> runs of records for the
 *   same member -> that member's `PeerLink` (one stream, one ordered writer, bounded queue) ->
 *   peer -> `RecordReassembler` -> `table.checkInbound` (the inner source is the sender's, the
 *   destination ours) -> virtio_net_hdr check -> TUN write.
 *
 * It owns the links (one per member of the applied membership), the route table snapshot, the
 * backpressure towards the kernel, and the drop counters. A peer that is not (or no longer) a
 * member has its stream closed, and whatever it still sends is counted (`dropNotMember`) and
 * never written to the TUN.
 */
import { RECORD_HEADER, readRecordLength, VNET_HDR_LEN } from '../netdev/records.js'
import { ackThinWanted, supersededAck } from './ack-thin.js'
import { PeerLink } from './link.js'
import { createRouteTable, VERDICT_MALFORMED, VERDICT_NOT_FOR_US, VERDICT_OK, VERDICT_SPOOFED, type RouteTable } from './routes.js'
import { vnetHeaderOk } from './vnet-hdr.js'
import type { VpnMembership } from './membership.js'
import type { VpnTun } from './types.js'
import type { Logger } from '../logging.js'
import type { Connection, Stream } from '@libp2p/interface'

/** Longest pause of TUN reads while a peer's queue drains. */
const PAUSE_MAX_MS = 20

export interface DataPathOptions {
  selfPeerId: string
  offload: boolean
  maxQueueBytes: number
  log?: Logger
  /** A link lost its stream (the owner redials). */
  onStreamClosed: (link: PeerLink) => void
}

function countRecords (run: Uint8Array): number {
  let count = 0
  let off = 0
  while (off + RECORD_HEADER <= run.byteLength) { count++; off += RECORD_HEADER + readRecordLength(run, off) }
  return count
}

export class DataPath {
  readonly links = new Map<string, PeerLink>()
  table: RouteTable
  tun: VpnTun | undefined
  dropNoRoute = 0
  dropNotMember = 0
  /** Pure TCP ACKs not sent because the next one in the same TUN batch superseded them (./ack-thin.ts). */
  ackThinned = 0
  private readonly opts: DataPathOptions
  private readonly hdr: number
  /** DMSNET_VPN_ACK_THIN (a typo is refused when the data path is built) */
  private readonly ackThin = ackThinWanted(process.env.DMSNET_VPN_ACK_THIN)
  private tunPaused = false
  private pauseTimer: ReturnType<typeof setTimeout> | undefined
  /** Links that sent nothing during a whole pause, with their txBytes then: no more pauses for them until they send. */
  private readonly stalled = new WeakMap<PeerLink, number>()

  constructor (opts: DataPathOptions) {
    this.opts = opts
    this.hdr = opts.offload ? VNET_HDR_LEN : 0
    this.table = createRouteTable(undefined, opts.selfPeerId)
  }

  /**
   * Swaps in the table for `m` (from here on, removed members' packets are refused), closes the
   * links of peers no longer in it, and returns a link per member (new ones without a stream).
   */
  applyMembership (m: VpnMembership | undefined): PeerLink[] {
    this.table = createRouteTable(m, this.opts.selfPeerId)
    const members = new Set(m?.members.map(x => x.peerId) ?? [])
    for (const [peer, link] of this.links) {
      if (!members.has(peer)) {
        // abort, not close: a removed member must not keep a half-open stream we still read
        link.close(true)
        this.links.delete(peer)
      }
    }
    const out: PeerLink[] = []
    for (const peer of members) {
      if (peer === this.opts.selfPeerId) continue
      let link = this.links.get(peer)
      if (link == null) {
        link = new PeerLink({
          peerId: peer,
          maxQueueBytes: this.opts.maxQueueBytes,
          minPayload: this.hdr + 20,
          onRecords: (l, run) => { this.onPeerRecords(l, run) },
          onStreamClosed: (l) => { this.opts.onStreamClosed(l) },
          onDrained: () => { this.resumeTun() }
        })
        this.links.set(peer, link)
      }
      out.push(link)
    }
    return out
  }

  /** Closes every link (VPN stopped). */
  closeLinks (): void {
    for (const link of this.links.values()) link.close()
    this.links.clear()
    this.table = createRouteTable(undefined, this.opts.selfPeerId)
  }

  attachTun (tun: VpnTun): void {
    this.tun = tun
    tun.start((batch) => { this.onTunBatch(batch) }, (err) => { this.opts.log?.warn({ err }, 'tun read error') })
  }

  /** Forgets the device (the caller closes it). */
  detachTun (): VpnTun | undefined {
    clearTimeout(this.pauseTimer)
    this.tunPaused = false
    const tun = this.tun
    this.tun = undefined
    return tun
  }

  /** An inbound tunnel stream: attached to the sender's link, or refused when it is not a member. */
  onDataStream (stream: Stream, conn: Connection): void {
    const from = conn.remotePeer.toString()
    const link = this.links.get(from)
    if (link == null || !this.table.byPeer.has(from)) {
      this.dropNotMember++
      stream.abort(new Error('not a member of this VPN'))
      return
    }
    // Inbound from the smaller id = from the designated dialer.
    link.attach(stream, conn.limits != null, from < this.opts.selfPeerId)
  }

  inject (peerId: string, records: Uint8Array): boolean {
    const link = this.links.get(peerId)
    if (link?.stream?.writeStatus !== 'writable') return false
    try {
      link.stream.send(records)
      return true
    } catch {
      return false
    }
  }

  /** TUN -> peers: split the batch into runs of consecutive records bound for the same member. */
  private onTunBatch (batch: Uint8Array): void {
    const table = this.table
    const hdr = this.hdr
    const n = batch.byteLength
    let off = 0
    let runStart = 0
    let runPackets = 0
    let runLink: PeerLink | undefined
    let runPeer: string | undefined
    const thin = this.ackThin
    while (n - off >= RECORD_HEADER) {
      const len = readRecordLength(batch, off)
      if (len <= hdr || off + RECORD_HEADER + len > n) break
      if (thin && supersededAck(batch, off, hdr)) {
        // the next record says all this one does (./ack-thin.ts): the run so far goes, this is skipped
        if (runPackets > 0) {
          if (runLink != null) runLink.send(batch.subarray(runStart, off), runPackets)
          else this.dropNoRoute += runPackets
          runPackets = 0
        }
        this.ackThinned++
        off += RECORD_HEADER + len
        runStart = off
        continue
      }
      const entry = table.lookup(batch, off + RECORD_HEADER + hdr, len - hdr)
      const peer = entry?.peerId
      if (peer !== runPeer || runPackets === 0) {
        if (runPackets > 0) {
          if (runLink != null) runLink.send(batch.subarray(runStart, off), runPackets)
          else this.dropNoRoute += runPackets
        }
        runStart = off
        runPackets = 0
        runPeer = peer
        runLink = peer != null ? this.links.get(peer) : undefined
      }
      runPackets++
      off += RECORD_HEADER + len
    }
    if (runPackets > 0) {
      if (runLink != null) runLink.send(batch.subarray(runStart, off), runPackets)
      else this.dropNoRoute += runPackets
    }
    // Only a link with a stream is worth waiting for; one without drops (drop-tail) instead.
    if (runLink?.congested === true && runLink.stream != null) this.pauseTun(runLink)
  }

  /**
   * Backpressure towards the kernel: while the peer we just sent to is congested, stop reading the
   * TUN until it drains, at most PAUSE_MAX_MS (so one slow peer cannot hold the others up for long).
   */
  private pauseTun (link: PeerLink): void {
    const tun = this.tun
    if (this.tunPaused || tun?.pause == null) return
    // A peer that sent nothing during a whole pause is not slow but stalled (it stopped reading):
    // pausing for it again would hold every other member to one TUN read per PAUSE_MAX_MS, so its
    // packets are dropped at its full queue instead, until it sends again.
    const tx = link.stats.txBytes
    if (this.stalled.get(link) === tx) return
    this.tunPaused = true
    tun.pause()
    this.pauseTimer = setTimeout(() => {
      if (link.stats.txBytes === tx) this.stalled.set(link, tx)
      this.resumeTun()
    }, PAUSE_MAX_MS)
  }

  private resumeTun (): void {
    if (!this.tunPaused) return
    this.tunPaused = false
    clearTimeout(this.pauseTimer)
    this.tun?.resume?.()
  }

  /** Peer -> TUN: check every record (source belongs to the sender, destination is ours, sane offload header). */
  private onPeerRecords (link: PeerLink, run: Uint8Array): void {
    const table = this.table
    const from = table.byPeer.get(link.peerId)
    const tun = this.tun
    const hdr = this.hdr
    if (from == null || tun == null || this.links.get(link.peerId) !== link) {
      this.dropNotMember += countRecords(run)
      return
    }
    let good: Uint8Array | undefined
    let goodLen = 0
    let off = 0
    const stats = link.stats
    while (off + RECORD_HEADER <= run.byteLength) {
      const len = readRecordLength(run, off)
      const end = off + RECORD_HEADER + len
      let verdict = table.checkInbound(from, run, off + RECORD_HEADER + hdr, len - hdr)
      if (verdict === VERDICT_OK && hdr > 0 && !vnetHeaderOk(run, off + RECORD_HEADER, len - hdr)) {
        verdict = VERDICT_MALFORMED
        stats.dropBadOffload++
      }
      if (verdict === VERDICT_OK) {
        stats.rxPackets++
        stats.rxBytes += len
        if (good != null) {
          good.set(run.subarray(off, end), goodLen)
          goodLen += end - off
        }
      } else {
        if (verdict === VERDICT_SPOOFED) stats.dropSpoofed++
        else if (verdict === VERDICT_NOT_FOR_US) stats.dropNotForUs++
        else if (verdict === VERDICT_MALFORMED) stats.dropMalformed++
        if (good == null) {
          // First bad record: from here on copy the good ones into a compacted batch.
          good = new Uint8Array(run.byteLength)
          good.set(run.subarray(0, off), 0)
          goodLen = off
        }
      }
      off = end
    }
    const out = good == null ? run : good.subarray(0, goodLen)
    if (out.byteLength === 0) return
    try {
      tun.write(out)
    } catch (err) {
      this.opts.log?.debug({ err }, 'tun write failed')
    }
  }
}

/**
 * Tunnel framing: the wire format of the VPN stream is exactly the TUN batch format, a sequence of
 * records `u32 big-endian length | payload`, where the payload is an IP packet, preceded by a
 * 10-byte virtio_net_hdr when TUN offloads are on. A TUN read batch therefore goes onto the stream
 * without re-encoding, and a received run of whole records goes into the TUN in one write.
 *
 * The reassembler turns the arbitrary chunks a stream delivers back into runs of whole records. A
 * length is checked against the bounds before anything is allocated for it: a bad length means the
 * stream can no longer be trusted to be in sync, so it is reported as an error (the caller resets
 * the stream) rather than skipped.
 */
import { InvalidFrameError } from './errors.js'

export const RECORD_HEADER = 4
/** virtio_net_hdr (without num_buffers) as the TUN hands it out with IFF_VNET_HDR. */
export const VNET_HDR_LEN = 10
/** Largest IP packet (IPv4 total length / IPv6 without jumbograms) plus the vnet header. */
export const MAX_PAYLOAD = 65535 + VNET_HDR_LEN
/** Smallest payload worth a record: an IPv4 header. */
export const MIN_PAYLOAD = 20

export interface RecordBounds {
  min: number
  max: number
}

/** Encodes payloads as records (used by tests and to forge packets; the data path never re-encodes). */
export function encodeRecords (payloads: Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of payloads) total += RECORD_HEADER + p.byteLength
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  let off = 0
  for (const p of payloads) {
    view.setUint32(off, p.byteLength)
    out.set(p, off + RECORD_HEADER)
    off += RECORD_HEADER + p.byteLength
  }
  return out
}

/** Splits a buffer of whole records into payload views (tests, diagnostics). Throws on a broken buffer. */
export function decodeRecords (buf: Uint8Array, bounds: RecordBounds = { min: 1, max: MAX_PAYLOAD }): Uint8Array[] {
  const out: Uint8Array[] = []
  let off = 0
  while (off < buf.byteLength) {
    if (buf.byteLength - off < RECORD_HEADER) throw new InvalidFrameError('truncated record header')
    const len = readU32(buf, off)
    if (len < bounds.min || len > bounds.max) throw new InvalidFrameError(`record length ${len} out of bounds`)
    if (off + RECORD_HEADER + len > buf.byteLength) throw new InvalidFrameError('truncated record')
    out.push(buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len))
    off += RECORD_HEADER + len
  }
  return out
}

export function readU32 (buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0
}

interface Chunk { subarray: (start?: number, end?: number) => Uint8Array, byteLength: number }

/**
 * Reassembles records from stream chunks. `push` returns the runs of whole records that became
 * complete (views into the chunk where possible, a fresh copy only for a record split across
 * chunks). Throws InvalidFrameError on a length outside `bounds`.
 */
export class RecordReassembler {
  private readonly bounds: RecordBounds
  /** Bytes of a record (header included) split across chunks; allocated once its length is known and checked. */
  private partial: Uint8Array | undefined
  private partialFill = 0
  /** Up to 3 bytes of a record header split across chunks. */
  private readonly header = new Uint8Array(RECORD_HEADER)
  private headerFill = 0

  constructor (bounds: RecordBounds = { min: MIN_PAYLOAD, max: MAX_PAYLOAD }) {
    this.bounds = bounds
  }

  /** Bytes held back waiting for the rest of a record. */
  get pending (): number {
    return this.partial != null ? this.partialFill : this.headerFill
  }

  push (data: Uint8Array | Chunk): Uint8Array[] {
    const chunk = data instanceof Uint8Array ? data : data.subarray()
    const out: Uint8Array[] = []
    let off = 0
    const n = chunk.byteLength

    // Finish a record started in an earlier chunk.
    if (this.headerFill > 0) {
      const take = Math.min(RECORD_HEADER - this.headerFill, n)
      this.header.set(chunk.subarray(0, take), this.headerFill)
      this.headerFill += take
      off = take
      if (this.headerFill < RECORD_HEADER) return out
      this.headerFill = 0
      this.startPartial(readU32(this.header, 0))
      this.partial!.set(this.header, 0)
      this.partialFill = RECORD_HEADER
    }
    if (this.partial != null) {
      const take = Math.min(this.partial.byteLength - this.partialFill, n - off)
      this.partial.set(chunk.subarray(off, off + take), this.partialFill)
      this.partialFill += take
      off += take
      if (this.partialFill < this.partial.byteLength) return out
      out.push(this.partial)
      this.partial = undefined
      this.partialFill = 0
    }

    // Whole records inside this chunk: one view for the whole run.
    const runStart = off
    while (n - off >= RECORD_HEADER) {
      const len = readU32(chunk, off)
      this.check(len)
      if (off + RECORD_HEADER + len > n) break
      off += RECORD_HEADER + len
    }
    if (off > runStart) out.push(chunk.subarray(runStart, off))

    // Keep the tail for the next chunk.
    const rest = n - off
    if (rest > 0) {
      if (rest < RECORD_HEADER) {
        this.header.set(chunk.subarray(off), 0)
        this.headerFill = rest
      } else {
        this.startPartial(readU32(chunk, off))
        this.partial!.set(chunk.subarray(off), 0)
        this.partialFill = rest
      }
    }
    return out
  }

  private check (len: number): void {
    if (len < this.bounds.min || len > this.bounds.max) throw new InvalidFrameError(`record length ${len} out of bounds [${this.bounds.min}, ${this.bounds.max}]`)
  }

  private startPartial (len: number): void {
    this.check(len)
    this.partial = new Uint8Array(RECORD_HEADER + len)
  }
}

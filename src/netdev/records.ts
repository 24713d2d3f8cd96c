/**
 * The TUN batch format, shared with the VPN tunnel: a batch is a run of records, each a 4-byte
 * big-endian length then the payload (virtio_net_hdr + IP packet when offloads are on, the bare
 * IP packet otherwise). Helpers here iterate without copying, build batches, reassemble records
 * from arbitrary stream chunks, and read or write the 10-byte virtio_net_hdr.
 *
 * The VPN's wire format is exactly this format, so a TUN read batch goes onto a tunnel stream
 * without re-encoding and a received run of whole records goes into the TUN in one write.
 */
import { InvalidBatchError } from './errors.js'

export const RECORD_HEADER = 4
/** virtio_net_hdr without num_buffers, as IFF_VNET_HDR + TUNSETVNETHDRSZ(10) exchange it */
export const VNET_HDR_LEN = 10
/** largest payload: a 64 KiB IP packet plus the vnet header */
export const MAX_RECORD_PAYLOAD = 65535 + VNET_HDR_LEN

export interface RecordBounds {
  min: number
  max: number
}

/** The big-endian u32 record length at `off` (the caller checks that 4 bytes are there). */
export function readRecordLength (buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0
}

/** Yields each record's payload as a view into `batch` (no copy). Throws InvalidBatchError on a torn batch. */
export function * iterateRecords (batch: Uint8Array): Generator<Uint8Array> {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength)
  let off = 0
  while (off < batch.byteLength) {
    if (batch.byteLength - off < RECORD_HEADER) throw new InvalidBatchError(`torn record header at offset ${off}`)
    const len = view.getUint32(off)
    if (len === 0 || len > MAX_RECORD_PAYLOAD || off + RECORD_HEADER + len > batch.byteLength) {
      throw new InvalidBatchError(`bad record length ${len} at offset ${off} (batch of ${batch.byteLength} bytes)`)
    }
    yield batch.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len)
    off += RECORD_HEADER + len
  }
}

/** Number of records in a well-formed batch (validates it). */
export function countRecords (batch: Uint8Array): number {
  let n = 0
  for (const _ of iterateRecords(batch)) n++
  return n
}

/** Encodes payloads as one batch. */
export function buildBatch (payloads: Iterable<Uint8Array>): Uint8Array {
  const list = [...payloads]
  let total = 0
  for (const p of list) {
    if (p.byteLength === 0 || p.byteLength > MAX_RECORD_PAYLOAD) throw new InvalidBatchError(`payload of ${p.byteLength} bytes cannot be a record`)
    total += RECORD_HEADER + p.byteLength
  }
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  let off = 0
  for (const p of list) {
    view.setUint32(off, p.byteLength)
    out.set(p, off + RECORD_HEADER)
    off += RECORD_HEADER + p.byteLength
  }
  return out
}

/**
 * Accumulates records into one growing buffer, for code that filters or re-batches packets one at
 * a time without allocating per packet.
 */
export class BatchBuilder {
  private buf: Uint8Array
  private view: DataView
  private off = 0
  count = 0

  constructor (initialBytes = 64 * 1024) {
    this.buf = new Uint8Array(initialBytes)
    this.view = new DataView(this.buf.buffer)
  }

  get byteLength (): number { return this.off }

  push (payload: Uint8Array, header?: Uint8Array): void {
    const len = payload.byteLength + (header?.byteLength ?? 0)
    if (len === 0 || len > MAX_RECORD_PAYLOAD) throw new InvalidBatchError(`payload of ${len} bytes cannot be a record`)
    this.reserve(RECORD_HEADER + len)
    this.view.setUint32(this.off, len)
    let o = this.off + RECORD_HEADER
    if (header != null) { this.buf.set(header, o); o += header.byteLength }
    this.buf.set(payload, o)
    this.off += RECORD_HEADER + len
    this.count++
  }

  /** Returns the batch built so far (a copy) and starts over. */
  take (): Uint8Array {
    const out = this.buf.slice(0, this.off)
    this.off = 0
    this.count = 0
    return out
  }

  private reserve (n: number): void {
    if (this.off + n <= this.buf.byteLength) return
    let cap = this.buf.byteLength * 2
    while (cap < this.off + n) cap *= 2
    const nb = new Uint8Array(cap)
    nb.set(this.buf.subarray(0, this.off))
    this.buf = nb
    this.view = new DataView(nb.buffer)
  }
}

interface Chunk { subarray: (start?: number, end?: number) => Uint8Array, byteLength: number }

/**
 * Reassembles records from the arbitrary chunks a stream delivers. `push` returns the runs of whole
 * records that became complete: views into the chunk where possible, a fresh buffer only for a
 * record split across chunks (`pushEach` is the same without that buffer, for a consumer that
 * uses each run at once). A length is checked against `bounds` before anything is allocated
 * for it; a bad length means the stream is out of sync, so it throws InvalidBatchError (the caller
 * resets the stream) rather than skipping.
 */
export class RecordReassembler {
  private readonly bounds: RecordBounds
  /** Bytes of the record being completed in `scratch` that have arrived (header included). */
  private partialFill = 0
  /** Up to 3 bytes of a record header split across chunks. */
  private readonly header = new Uint8Array(RECORD_HEADER)
  private headerFill = 0

  constructor (bounds: RecordBounds = { min: 1, max: MAX_RECORD_PAYLOAD }) {
    this.bounds = bounds
  }

  /** Bytes held back waiting for the rest of a record. */
  get pending (): number {
    return this.scratchLen > 0 ? this.partialFill : this.headerFill
  }

  push (data: Uint8Array | Chunk): Uint8Array[] {
    const out: Uint8Array[] = []
    const chunks = data instanceof Uint8Array ? data : Symbol.iterator in data ? data as Iterable<Uint8Array> : data.subarray()
    // a record completed in the reused buffer is copied out: these runs may be kept
    this.pushEach(chunks, run => { out.push(run.buffer === this.scratch?.buffer ? run.slice() : run) })
    return out
  }

  /**
   * Like `push`, without copying the stream's chunks together and without allocating per record:
   * each chunk of a Uint8ArrayList is scanned in place, and `onRun` is called at once with every
   * run of whole records (a view into the chunk) or record completed across chunks (a view into
   * one reused scratch buffer). A run is valid only during its `onRun` call: a consumer that keeps
   * it must copy it. Throws InvalidBatchError like `push` (runs before the bad length were delivered).
   */
  pushEach (data: Uint8Array | Iterable<Uint8Array>, onRun: (run: Uint8Array) => void): void {
    if (data instanceof Uint8Array) { this.scanChunk(data, onRun); return }
    for (const chunk of data) this.scanChunk(chunk, onRun)
  }

  private scanChunk (chunk: Uint8Array, onRun: (run: Uint8Array) => void): void {
    let off = 0
    const n = chunk.byteLength
    if (this.headerFill > 0) {
      const take = Math.min(RECORD_HEADER - this.headerFill, n)
      this.header.set(chunk.subarray(0, take), this.headerFill)
      this.headerFill += take
      off = take
      if (this.headerFill < RECORD_HEADER) return
      this.headerFill = 0
      this.startScratch(readRecordLength(this.header, 0))
      this.scratch!.set(this.header, 0)
      this.partialFill = RECORD_HEADER
    }
    if (this.scratchLen > 0) {
      const take = Math.min(this.scratchLen - this.partialFill, n - off)
      this.scratch!.set(chunk.subarray(off, off + take), this.partialFill)
      this.partialFill += take
      off += take
      if (this.partialFill < this.scratchLen) return
      const len = this.scratchLen
      this.scratchLen = 0
      this.partialFill = 0
      onRun(this.scratch!.subarray(0, len))
    }
    const runStart = off
    while (n - off >= RECORD_HEADER) {
      const len = readRecordLength(chunk, off)
      this.check(len)
      if (off + RECORD_HEADER + len > n) break
      off += RECORD_HEADER + len
    }
    if (off > runStart) onRun(chunk.subarray(runStart, off))
    const rest = n - off
    if (rest > 0) {
      if (rest < RECORD_HEADER) {
        this.header.set(chunk.subarray(off), 0)
        this.headerFill = rest
      } else {
        this.startScratch(readRecordLength(chunk, off))
        this.scratch!.set(chunk.subarray(off), 0)
        this.partialFill = rest
      }
    }
  }

  /** Reused buffer of `pushEach` for a record split across chunks (grown once, to the largest record). */
  private scratch: Uint8Array | undefined
  /** Length (header included) of the record being completed in `scratch`; 0 = none. */
  private scratchLen = 0

  private startScratch (len: number): void {
    this.check(len)
    const need = RECORD_HEADER + len
    if (this.scratch == null || this.scratch.byteLength < need) this.scratch = new Uint8Array(Math.max(need, 16 * 1024))
    this.scratchLen = need
  }

  private check (len: number): void {
    if (len < this.bounds.min || len > this.bounds.max) throw new InvalidBatchError(`record length ${len} out of bounds [${this.bounds.min}, ${this.bounds.max}]`)
  }
}

export const VNET_HDR_F_NEEDS_CSUM = 1
export const VNET_HDR_GSO_NONE = 0
export const VNET_HDR_GSO_TCPV4 = 1
export const VNET_HDR_GSO_UDP = 3
export const VNET_HDR_GSO_TCPV6 = 4
export const VNET_HDR_GSO_UDP_L4 = 5

export interface VnetHeader {
  flags: number
  gsoType: number
  hdrLen: number
  gsoSize: number
  csumStart: number
  csumOffset: number
}

/** Reads the virtio_net_hdr at the start of an offload-mode record (fields are little-endian). */
export function parseVnetHeader (record: Uint8Array): VnetHeader {
  if (record.byteLength < VNET_HDR_LEN) throw new InvalidBatchError('record shorter than a virtio_net_hdr')
  const v = new DataView(record.buffer, record.byteOffset, VNET_HDR_LEN)
  return { flags: v.getUint8(0), gsoType: v.getUint8(1), hdrLen: v.getUint16(2, true), gsoSize: v.getUint16(4, true), csumStart: v.getUint16(6, true), csumOffset: v.getUint16(8, true) }
}

/** The all-zero header: a complete, checksummed, non-GSO packet. */
export const EMPTY_VNET_HEADER: Readonly<Uint8Array> = new Uint8Array(VNET_HDR_LEN)

/** The IP packet of a record: skips the vnet header when the device has offloads on. */
export function recordPacket (record: Uint8Array, vnetHdr: boolean): Uint8Array {
  return vnetHdr ? record.subarray(VNET_HDR_LEN) : record
}

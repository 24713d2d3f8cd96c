/**
 * TUN/TAP devices on the native addon (native/tun/tun.c): the fd is polled by the event loop and
 * each wakeup delivers one buffer holding up to `batchPackets` packets as records (see
 * records.ts). A batch is a Uint8Array view of a 1 MiB slab the kernel read into directly (no copy,
 * one allocation per slab); it is never written again, so a consumer may keep it, but a kept
 * batch keeps its whole slab alive. The device is a small wireguard-go-like interface: name,
 * mtu, offload, batches in (callback or async iterator, with backpressure), batches out, stats,
 * close, events.
 *
 * createTun opens the device, applies link settings (MTU, txqueuelen 5000, gso_max_size 60000 so
 * GSO super-packets stay under a 64 KiB frame), optionally moves it into a namespace and addresses
 * it; if any step fails the device is closed (and un-persisted) before the error is thrown.
 */
import type { AbortOptions } from '@libp2p/interface'
import { AbortedError, InvalidArgumentError } from '../errors.js'
import { DeviceClosedError, InvalidBatchError, TunOpenError } from './errors.js'
import { addAddress, moveLinkToNetns, setLink } from './link.js'
import { loadAddon } from './native-loader.js'
import { EMPTY_VNET_HEADER, RECORD_HEADER, VNET_HDR_LEN } from './records.js'
import { checkCidr, checkInterfaceName, checkMtu, checkOptionalNamespace } from './validate.js'

interface NativeTun {
  readonly name: string
  readonly fd: number
  readonly vnetHdr: boolean
  readonly offloadFlags: number
  /** UDP datagrams are coalesced into GSO_UDP_L4 records (needs USO) */
  readonly udpCoalesce?: boolean
  start: (cb: (err: (Error & { errno?: number }) | undefined, batch: Uint8Array | undefined) => void, maxPackets: number, maxBytes: number) => void
  stop: () => void
  writeBatch: (batch: Uint8Array) => number
  stats: () => TunStats
  setPersist: (on: boolean) => void
  ref: (on: boolean) => void
  close: () => void
}

interface NativeModule {
  Tun: new (options: { name?: string, tap?: boolean, multiQueue?: boolean, offload?: boolean, vnetHdr?: boolean, uso?: boolean, persist?: boolean, udpWriteYield?: boolean, udpWriteYieldAlways?: boolean, udpWriteNap?: boolean, udpWriteAdaptive?: boolean, udpYieldLongUs?: number, udpRoomAlone?: boolean }) => NativeTun
  VNET_HDR_LEN: number
}

let native: NativeModule | undefined

/** Loads the addon: a local build, else the package's prebuilt binary (see native-loader.ts). */
export function loadNative (): NativeModule {
  native ??= loadAddon<NativeModule>()
  return native
}

export interface TunStats {
  rxPackets: number
  rxBytes: number
  /** wakeups that delivered at least one packet */
  rxBatches: number
  rxErrors: number
  txPackets: number
  txBytes: number
  /** packets the kernel refused (malformed, device down) */
  txErrors: number
  /** packets dropped because the kernel queue was full and our pending queue (4 MiB) too */
  txDrops: number
  /** packets that met EAGAIN and waited for writability */
  txQueued: number
  txPendingBytes: number
  /** datagrams merged into a GSO_UDP_L4 record read from the device (rxPackets counts them too) */
  rxCoalesced?: number
  /** datagrams merged into a GSO_UDP_L4 record before writing (txPackets counts records written) */
  txCoalesced?: number
  /** records written that were cut out of a larger GSO_UDP_L4 record (see udpWriteSegments) */
  txSplit?: number
  /** times the writer gave up the CPU after a GSO_UDP_L4 record (see udpWriteYield) */
  txYields?: number
  /** looks at the namespace's UDP receive-buffer drop counters that found them risen (each: 50 ms of yields) */
  txReaderDrops?: number
  /** microseconds spent in those yields (mostly off the CPU while others ran) */
  txYieldUs?: number
  /** yields that took at least udpYieldLongUs ('adaptive'): given to a CPU hog rather than to the reader */
  txYieldsLong?: number
  /** naps taken instead of a yield ('nap', 'adaptive'; counted in txYields too) */
  txNaps?: number
  /** microseconds spent in those naps (counted in txYieldUs too) */
  txNapUs?: number
  /** UDP records written only after waiting for room in the receiving socket's buffer (see udpWriteYield) */
  txRoomWaits?: number
  /** microseconds spent (asleep) in those waits */
  txRoomWaitUs?: number
  /** waits that ended without room: the socket's reader made no progress for 1 ms, or a bound was reached */
  txRoomGaveUp?: number
  /** waits that went past the shared bounds because their flow had the device to itself (see udpRoomAlone) */
  txRoomAlone?: number
}

/**
 * `signal` (from AbortOptions) bounds the open only: aborting while the device is being opened
 * and configured cancels it and leaves nothing behind; once `createTun` resolved, the device
 * lives until `close()`.
 */
export interface TunOptions extends AbortOptions {
  /** interface name; the kernel picks tunN/tapN when absent */
  name?: string
  mode?: 'tun' | 'tap'
  /** default 1420 */
  mtu?: number
  /** keep the device after close (TUNSETPERSIST) */
  persist?: boolean
  /** IFF_MULTI_QUEUE: open the same name again to add a queue */
  multiQueue?: boolean
  /** IFF_VNET_HDR + TSO/CSUM(+USO) offloads: records carry a virtio_net_hdr and may be ~60 KB GSO packets */
  offload?: boolean
  /**
   * With offloads and a kernel that takes UDP segmentation offload (TUN_F_USO4/6, Linux >= 6.2):
   * merge consecutive datagrams of one UDP flow into one GSO_UDP_L4 record, on read and before
   * write (native/tun/udp_gro.c). Default true (DMSNET_TUN_UDP_COALESCE=0 turns the default off,
   * for before/after measurements).
   */
  udpCoalesce?: boolean
  /**
   * Before a write, GSO_UDP_L4 records are cut into records of at most this many datagrams
   * (default 0: written whole, as wireguard-go and Tailscale do; 1: plain datagrams). Whole
   * records cost ~25 % less CPU per datagram in a TUN-to-TUN forwarder here; cutting is for a
   * receiver whose socket buffer cannot take ~45 datagrams at once (the kernel queues a GSO
   * packet's datagrams together). A device without USO always cuts to 1.
   * Env: DMSNET_TUN_UDP_WRITE_SEGMENTS.
   */
  udpWriteSegments?: number
  /** Also merge single datagrams into GSO_UDP_L4 records before a write (GRO); default false. */
  udpWriteCoalesce?: boolean
  /**
   * After writing a GSO_UDP_L4 record (a burst of up to ~40 datagrams for local sockets, queued
   * at once), give up the CPU (`sched_yield`) so that their readers run before the next burst,
   * while those readers are losing datagrams: the namespace's UDP RcvbufErrors (or
   * Udp6RcvbufErrors) rose in the last 50 ms (looked at every 5 ms while such records are
   * written). Why: a receiver that shares a core with this process otherwise waits for the end
   * of our time slice while we keep writing, and its socket buffer (~90 datagrams by default)
   * overflows: everything the VPN did for those datagrams is lost (docs/vpn.md, "Where the CPU
   * goes"). Gated so that a receiver that keeps up, or a busy machine, does not get our time
   * handed to strangers. `'always'`: after every such record (an experiment). The counters are
   * those of the process's namespace: a device moved into another namespace never yields.
   * The same gate (held 1 s after the drops, or after the last wait) turns on waiting for room:
   * before writing a UDP record, the receiving socket's free buffer space is asked of the kernel
   * (sock_diag; counted down locally between asks) and the writer sleeps, up to 2 ms, until the
   * record fits, so that a reader that is briefly late loses nothing; a reader that makes no
   * progress for 1 ms, or needs more than 5 ms of waiting in 20 ms (overloaded), is not waited
   * for during the next 200 ms (native/tun/udp_room.h, tun.c wait_for_room), unless its flow is
   * alone on the device (`udpRoomAlone`).
   * `'nap'` (an experiment): as true, with a 50 us sleep instead of each `sched_yield`, which under
   * EEVDF waits out a whole slice of a CPU hog (docs/vpn.md, "Low UDP runs"); txYields counts the naps.
   * `'adaptive'`: as true, each yield timed; after two in a row of at least `udpYieldLongUs`, the
   * next 32 give-aways are naps, then a yield probes again (txYieldsLong, txNaps count them).
   * Default true. Env: DMSNET_TUN_UDP_WRITE_YIELD (0/off/false, 1/on/true/yield, always, nap, adaptive; anything else is an InvalidArgumentError).
   */
  udpWriteYield?: boolean | 'always' | 'nap' | 'adaptive'
  /**
   * `'adaptive'` only: a yield that took at least this many microseconds is long (0-1000000,
   * default 250; a yield to the reader takes ~100). Env: DMSNET_TUN_UDP_YIELD_LONG_US.
   */
  udpYieldLongUs?: number
  /**
   * While one UDP flow has the device to itself (under 16 KiB of other traffic, either way, in
   * 20-40 ms), its waits for room ignore the overload bound and wait up to 5 ms per record, 5 ms
   * without progress: its excess then waits in the sending TUN's queue instead of being carried
   * and dropped at its socket (docs/vpn.md, "Waiting for an overloaded reader"). Default true.
   * Env: DMSNET_TUN_UDP_ROOM_ALONE=0 turns it off (the stop-29 bounds always).
   */
  udpRoomAlone?: boolean
  /** move the device into this namespace after opening (the fd keeps working) */
  netns?: string
  /** addresses to put on the device (CIDR) */
  addresses?: string[]
  /** default 5000 */
  txqueuelen?: number
  /** default 60000: GSO super-packets stay under a 64 KiB frame */
  gsoMaxSize?: number
  /** bring the link up (default true) */
  up?: boolean
  /** most packets per delivered batch (default 256) */
  batchPackets?: number
  /** most bytes per delivered batch (default 1 MiB; a batch also ends where its 1 MiB read slab has no room for one more packet) */
  batchBytes?: number
}

export interface TunEvents {
  /** reading failed (e.g. the device was deleted under us); reading has stopped */
  'tun:error': CustomEvent<Error>
  'tun:close': CustomEvent<void>
}

type Listener<E> = ((evt: E) => void) | { handleEvent: (evt: E) => void }

export interface TunDevice {
  readonly name: string
  readonly mtu: number
  readonly mode: 'tun' | 'tap'
  /** records carry a 10-byte virtio_net_hdr (IFF_VNET_HDR with offloads) */
  readonly offload: boolean
  /** TUN_F_* flags the kernel accepted (CSUM 0x1, TSO4 0x2, TSO6 0x4, USO4 0x20, USO6 0x40) */
  readonly offloadFlags: number
  /** UDP datagrams are coalesced into GSO_UDP_L4 records (see TunOptions.udpCoalesce) */
  readonly udpCoalesce: boolean
  readonly netns?: string
  /** the device outlives close() (TUNSETPERSIST) */
  readonly persist: boolean
  readonly fd: number
  readonly closed: boolean
  readonly stats: TunStats
  /** Calls `cb` with every batch read; returns a function that unsubscribes. Starts reading. */
  onBatch: (cb: (batch: Uint8Array) => void) => () => void
  /** Batches as an async iterator; reading pauses while the consumer lags (backpressure). */
  batches: (options?: AbortOptions) => AsyncGenerator<Uint8Array>
  /** Writes a batch of records; returns packets accepted (written or queued). */
  writeBatch: (batch: Uint8Array) => number
  /** Writes one IP packet (a zero vnet header is prepended in offload mode). */
  write: (packet: Uint8Array) => boolean
  /** Keep (true, default) or not the process alive while reading. */
  ref: (on: boolean) => void
  close: () => Promise<void>
  addEventListener<K extends keyof TunEvents>(type: K, listener: Listener<TunEvents[K]> | null, options?: boolean | { once?: boolean, signal?: AbortSignal }): void
  removeEventListener<K extends keyof TunEvents>(type: K, listener: Listener<TunEvents[K]> | null, options?: boolean): void
}

const ITERATOR_HIGH_WATER = 64

class Tun extends EventTarget implements TunDevice {
  readonly name: string
  readonly mtu: number
  readonly mode: 'tun' | 'tap'
  readonly offload: boolean
  readonly offloadFlags: number
  readonly udpCoalesce: boolean
  readonly netns?: string
  private readonly handle: NativeTun
  readonly persist: boolean
  private readonly batchPackets: number
  private readonly batchBytes: number
  private readonly listeners = new Set<(batch: Uint8Array) => void>()
  private reading = false
  private paused = 0
  private _closed = false

  constructor (handle: NativeTun, opts: { mtu: number, mode: 'tun' | 'tap', netns?: string, persist: boolean, batchPackets: number, batchBytes: number }) {
    super()
    this.handle = handle
    this.name = handle.name
    this.mtu = opts.mtu
    this.mode = opts.mode
    this.offload = handle.vnetHdr
    this.offloadFlags = handle.offloadFlags
    this.udpCoalesce = handle.udpCoalesce === true
    this.netns = opts.netns
    this.persist = opts.persist
    this.batchPackets = opts.batchPackets
    this.batchBytes = opts.batchBytes
  }

  get fd (): number { return this._closed ? -1 : this.handle.fd }
  get closed (): boolean { return this._closed }
  get stats (): TunStats { return this.handle.stats() }

  onBatch (cb: (batch: Uint8Array) => void): () => void {
    if (this._closed) throw new DeviceClosedError(`${this.name} is closed`)
    this.listeners.add(cb)
    this.updateReading()
    return () => {
      this.listeners.delete(cb)
      this.updateReading()
    }
  }

  async * batches (options?: AbortOptions): AsyncGenerator<Uint8Array> {
    const queue: Uint8Array[] = []
    let wake: (() => void) | undefined
    let pausedHere = false
    const off = this.onBatch(batch => {
      queue.push(batch)
      if (queue.length >= ITERATOR_HIGH_WATER && !pausedHere) { pausedHere = true; this.paused++; this.updateReading() }
      wake?.()
    })
    const onEnd = (): void => wake?.()
    this.addEventListener('tun:close', onEnd)
    this.addEventListener('tun:error', onEnd)
    options?.signal?.addEventListener('abort', onEnd)
    try {
      while (true) {
        const b = queue.shift()
        if (b != null) {
          if (pausedHere && queue.length < ITERATOR_HIGH_WATER / 2) { pausedHere = false; this.paused--; this.updateReading() }
          yield b
          continue
        }
        if (this._closed || options?.signal?.aborted === true) return
        await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
      }
    } finally {
      if (pausedHere) { this.paused--; pausedHere = false }
      off()
      this.removeEventListener('tun:close', onEnd)
      this.removeEventListener('tun:error', onEnd)
      options?.signal?.removeEventListener('abort', onEnd)
    }
  }

  writeBatch (batch: Uint8Array): number {
    if (this._closed) throw new DeviceClosedError(`${this.name} is closed`)
    if (!(batch instanceof Uint8Array)) throw new InvalidBatchError('a batch is a Uint8Array of records')
    if (batch.byteLength === 0) return 0
    try {
      return this.handle.writeBatch(batch)
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_TUN_BAD_BATCH') throw new InvalidBatchError((err as Error).message, { cause: err })
      throw err
    }
  }

  write (packet: Uint8Array): boolean {
    const hdr = this.offload ? VNET_HDR_LEN : 0
    const rec = new Uint8Array(RECORD_HEADER + hdr + packet.byteLength)
    new DataView(rec.buffer).setUint32(0, hdr + packet.byteLength)
    if (hdr > 0) rec.set(EMPTY_VNET_HEADER, RECORD_HEADER)
    rec.set(packet, RECORD_HEADER + hdr)
    return this.writeBatch(rec) === 1
  }

  ref (on: boolean): void { this.handle.ref(on) }

  async close (): Promise<void> {
    if (this._closed) return
    this._closed = true
    this.listeners.clear()
    // a persistent device stays after this; only our fd goes
    this.handle.close()
    this.dispatchEvent(new CustomEvent('tun:close'))
  }

  private updateReading (): void {
    if (this._closed) return
    const want = this.listeners.size > 0 && this.paused === 0
    if (want === this.reading) return
    this.reading = want
    if (want) this.handle.start((err, batch) => { this.onNative(err, batch) }, this.batchPackets, this.batchBytes)
    else this.handle.stop()
  }

  private onNative (err: Error | undefined, batch: Uint8Array | undefined): void {
    if (err != null) {
      this.reading = false
      this.dispatchEvent(new CustomEvent('tun:error', { detail: err }))
      return
    }
    if (batch == null) return
    for (const l of this.listeners) l(batch)
  }
}

function writeSegments (n: number | undefined): number {
  const v = n ?? (process.env.DMSNET_TUN_UDP_WRITE_SEGMENTS != null ? Number(process.env.DMSNET_TUN_UDP_WRITE_SEGMENTS) : 0)
  if (!Number.isInteger(v) || v < 0 || v > 65535) throw new InvalidArgumentError('udpWriteSegments must be an integer 0-65535')
  return v
}

type WriteYield = boolean | 'always' | 'nap' | 'adaptive'

function writeYield (opt: WriteYield | undefined, longUs: number | undefined): { udpWriteYield: boolean, udpWriteYieldAlways: boolean, udpWriteNap: boolean, udpWriteAdaptive: boolean, udpYieldLongUs: number } {
  const env = (process.env.DMSNET_TUN_UDP_WRITE_YIELD ?? '').trim().toLowerCase()
  // a typo such as "of" must not silently mean "on": only the documented words are taken
  const fromEnv: Record<string, WriteYield> = { '': true, 1: true, true: true, on: true, yield: true, 0: false, false: false, off: false, always: 'always', nap: 'nap', adaptive: 'adaptive' }
  if (opt == null && !(env in fromEnv)) throw new InvalidArgumentError(`DMSNET_TUN_UDP_WRITE_YIELD must be 0, 1, on, off, true, false, yield, always, nap or adaptive, not ${JSON.stringify(process.env.DMSNET_TUN_UDP_WRITE_YIELD)}`)
  const v = opt ?? fromEnv[env]
  if (v !== true && v !== false && v !== 'always' && v !== 'nap' && v !== 'adaptive') throw new InvalidArgumentError('udpWriteYield must be true, false, "always", "nap" or "adaptive"')
  const envLong = process.env.DMSNET_TUN_UDP_YIELD_LONG_US
  const l = longUs ?? (envLong != null && envLong.trim() !== '' ? Number(envLong) : 250)
  if (!Number.isInteger(l) || l < 0 || l > 1_000_000) throw new InvalidArgumentError(`udpYieldLongUs (DMSNET_TUN_UDP_YIELD_LONG_US) must be an integer 0-1000000, not ${JSON.stringify(longUs ?? envLong)}`)
  return { udpWriteYield: v !== false, udpWriteYieldAlways: v === 'always', udpWriteNap: v === 'nap', udpWriteAdaptive: v === 'adaptive', udpYieldLongUs: l }
}

/** DMSNET_TUN_UDP_ROOM_ALONE: on unless 0 (the before of stop 30); a typo is refused, not measured as the default. */
export function udpRoomAloneWanted (value = process.env.DMSNET_TUN_UDP_ROOM_ALONE): boolean {
  const v = (value ?? '').trim()
  if (v === '' || v === '1') return true
  if (v === '0') return false
  throw new InvalidArgumentError(`DMSNET_TUN_UDP_ROOM_ALONE must be 0 or 1, not ${JSON.stringify(v)}`)
}

/** Opens (or attaches to) a TUN/TAP device and configures its link. */
export async function createTun (options: TunOptions = {}): Promise<TunDevice> {
  options.signal?.throwIfAborted()
  const name = options.name == null ? undefined : checkInterfaceName(options.name)
  const mode = options.mode ?? 'tun'
  if (mode !== 'tun' && mode !== 'tap') throw new InvalidArgumentError(`mode must be "tun" or "tap", not ${JSON.stringify(mode)}`)
  const mtu = checkMtu(options.mtu ?? 1420)
  const netns = checkOptionalNamespace(options.netns)
  for (const c of options.addresses ?? []) checkCidr(c)
  const batchPackets = options.batchPackets ?? 256
  const batchBytes = options.batchBytes ?? 1024 * 1024
  if (!Number.isInteger(batchPackets) || batchPackets < 1 || batchPackets > 65536) throw new InvalidArgumentError('batchPackets must be 1-65536')
  if (!Number.isInteger(batchBytes) || batchBytes < 1 || batchBytes > 64 * 1024 * 1024) throw new InvalidArgumentError('batchBytes must be 1 B-64 MiB')
  const offload = options.offload === true

  // checked before the open, so that a bad option is an InvalidArgumentError, not a TunOpenError
  const nativeOptions = { name, tap: mode === 'tap', multiQueue: options.multiQueue === true, offload, persist: options.persist === true, udpCoalesce: options.udpCoalesce ?? process.env.DMSNET_TUN_UDP_COALESCE !== '0', udpWriteSegments: writeSegments(options.udpWriteSegments), udpWriteCoalesce: options.udpWriteCoalesce === true, ...writeYield(options.udpWriteYield, options.udpYieldLongUs), udpRoomAlone: options.udpRoomAlone ?? udpRoomAloneWanted() }
  const { Tun: NativeTunClass } = loadNative()
  let handle: NativeTun
  try {
    handle = new NativeTunClass(nativeOptions)
  } catch (err) {
    const e = err as Error & { errno?: number }
    throw new TunOpenError(`cannot open ${mode} device${name != null ? ` ${name}` : ''}: ${e.message}`, e.errno, { cause: err })
  }
  const abort = { signal: options.signal }
  try {
    if (netns != null) await moveLinkToNetns(handle.name, netns, abort)
    await setLink(handle.name, {
      mtu,
      txqueuelen: options.txqueuelen ?? 5000,
      gsoMaxSize: options.gsoMaxSize ?? 60000
    }, { netns, ...abort })
    for (const c of options.addresses ?? []) await addAddress(handle.name, c, { netns, ...abort })
    if (options.up !== false) await setLink(handle.name, { up: true }, { netns, ...abort })
    // aborted between the last step and here: the caller gave up on the open, so no device
    options.signal?.throwIfAborted()
  } catch (err) {
    // leave nothing behind: a persistent device would otherwise outlive this failed call
    if (options.persist === true) { try { handle.setPersist(false) } catch { /* closing below still releases the fd */ } }
    handle.close()
    if (options.signal?.aborted === true && !(err instanceof AbortedError)) throw new AbortedError('opening the TUN device was aborted', { cause: err })
    throw err
  }
  // the signal bounds the open only: the device lives until close(), however long after that the
  // caller's signal aborts (issue 14: a control request's signal closed the VPN's TUN under it)
  return new Tun(handle, { mtu, mode, netns, persist: options.persist === true, batchPackets, batchBytes })
}

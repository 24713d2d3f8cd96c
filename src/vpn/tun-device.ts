/**
 * The VPN's TUN factory on top of src/netdev: opens the device (offloads, MTU, txqueuelen,
 * gso_max_size are netdev's job), puts the member's addresses on it (IPv6 without duplicate
 * address detection, so the DNS responder can bind at once) and routes extra prefixes into it.
 * The open's AbortSignal bounds the open only; the device lives until the VPN closes it.
 */
import { writeFile } from 'node:fs/promises'
import { addAddress, addRoute, deleteRoute } from '../netdev/link.js'
import { ip } from '../netdev/exec.js'
import { createTun } from '../netdev/tun.js'
import { InvalidArgumentError } from '../errors.js'
import type { TunFactory, TunOpenOptions, VpnTun } from './types.js'
import type { AbortOptions } from '@libp2p/interface'

export interface NetdevTunFactoryOptions {
  /** Network namespace to move the device into (tests, a node whose VPN lives in a namespace). */
  netns?: string
}

/**
 * Most bytes per TUN read batch (`createTun`'s batchBytes). A batch goes onto the tunnel stream as
 * one yamux frame, and the peer can use a frame only once all of it arrived: with TCP's 60 KB
 * segments the batch size is part of the inner TCP's round trip. `DMSNET_VPN_TUN_BATCH_BYTES`
 * (bytes) is for before/after runs.
 */
export function tunBatchBytes (value = process.env.DMSNET_VPN_TUN_BATCH_BYTES): number {
  if (value == null || value === '') return 1024 * 1024
  const v = Number(value)
  // a typo must not silently measure the default in a before/after run
  if (!Number.isInteger(v) || v < 64 * 1024 || v > 16 * 1024 * 1024) throw new InvalidArgumentError(`DMSNET_VPN_TUN_BATCH_BYTES: "${value}" is not a whole number of bytes from 65536 to 16777216`)
  return v
}

export function netdevTunFactory (factoryOptions: NetdevTunFactoryOptions = {}): TunFactory {
  const { netns } = factoryOptions
  return async (options: TunOpenOptions, abort?: AbortOptions): Promise<VpnTun> => {
    const dev = await createTun({ name: options.name, mtu: options.mtu, offload: options.offload, netns, signal: abort?.signal, batchBytes: tunBatchBytes() })
    const where = { netns, signal: abort?.signal }
    try {
      // (in a namespace, `nodad` below is enough: /proc/sys here is the host's)
      if (netns == null) await writeFile(`/proc/sys/net/ipv6/conf/${dev.name}/accept_dad`, '0').catch(() => {})
      for (const a of options.addresses) {
        if (a.includes(':')) await ip(['-6', 'addr', 'replace', a, 'dev', dev.name, 'nodad'], netns, where)
        else await addAddress(dev.name, a, where)
      }
      for (const r of options.routes) await addRoute({ dst: r, dev: dev.name }, where)
    } catch (err) {
      await dev.close().catch(() => {})
      throw err
    }
    let routes = [...options.routes]
    let unsubscribe: (() => void) | undefined
    let reader: ((batch: Uint8Array) => void) | undefined
    let onError: ((evt: CustomEvent<Error>) => void) | undefined
    let pauses = 0
    let pausedAt = 0
    let pausedMs = 0
    return {
      name: dev.name,
      vnetHdr: dev.offload,
      start (onBatch, errorCb) {
        onError = (evt) => { errorCb(evt.detail) }
        dev.addEventListener('tun:error', onError)
        reader = onBatch
        unsubscribe = dev.onBatch(onBatch)
      },
      pause () {
        // with no listener the device stops polling its fd
        if (unsubscribe != null) { pauses++; pausedAt = performance.now() }
        unsubscribe?.()
        unsubscribe = undefined
      },
      resume () {
        if (unsubscribe == null && reader != null && !dev.closed) {
          unsubscribe = dev.onBatch(reader)
          pausedMs += performance.now() - pausedAt
        }
      },
      stats () {
        // readPauses / readPausedMs: the data path's backpressure (a peer's queue past half full)
        return { ...dev.stats, readPauses: pauses, readPausedMs: Math.round(pausedMs) }
      },
      write (batch) {
        dev.writeBatch(batch)
      },
      async setRoutes (next: string[]) {
        for (const r of routes) if (!next.includes(r)) await deleteRoute({ dst: r, dev: dev.name }, { netns }).catch(() => {})
        for (const r of next) if (!routes.includes(r)) await addRoute({ dst: r, dev: dev.name }, { netns })
        routes = [...next]
      },
      async close () {
        reader = undefined
        unsubscribe?.()
        if (onError != null) dev.removeEventListener('tun:error', onError)
        await dev.close()
      }
    }
  }
}

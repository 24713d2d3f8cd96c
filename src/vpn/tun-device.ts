/**
 * The VPN's TUN factory on top of src/netdev: opens the device (offloads, MTU, txqueuelen,
 * gso_max_size are netdev's job), puts the member's addresses on it (IPv6 without duplicate
 * address detection, so the DNS responder can bind at once) and routes extra prefixes into it.
 * The open's AbortSignal bounds the open only; the device lives until the VPN closes it.
 */
import { writeFile } from 'node:fs/promises'
import { addAddress, addRoute, deleteRoute } from '../netdev/link.js'
import { ip, ipJson } from '../netdev/exec.js'
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

interface KernelRoute { dst: string, prefsrc?: string, scope?: string, metric?: number }

/**
 * Suggests congestion control `cc` on one route (`ip route replace ... congctl`): a connection over it
 * starts with `cc` (replacing one the application set before connect()); not locked, so the
 * application may still switch it afterwards (TCP_CONGESTION). Why: docs/vpn.md, "Inner TCP".
 * Returns false when the kernel refused (no such algorithm): the route then stays as it was.
 */
export async function suggestCongestionControl (args: string[], cc: string, netns: string | undefined, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await ip([...args, 'congctl', cc], netns, { signal })
    return true
  } catch (err) {
    if (signal?.aborted === true) throw err
    return false
  }
}

/**
 * `cc` on the routes the kernel made for the device's addresses (the VPN's prefixes; not IPv6
 * link-local), rebuilt with their own attributes. Returns how many carry it now.
 */
async function congestionControlOnPrefixes (dev: string, cc: string, netns: string | undefined, signal: AbortSignal | undefined): Promise<number> {
  let n = 0
  for (const family of ['-4', '-6']) {
    for (const r of await ipJson<KernelRoute>([family, 'route', 'show', 'dev', dev, 'proto', 'kernel'], netns, { signal })) {
      if (r.dst.toLowerCase().startsWith('fe80:')) continue
      const args = [family, 'route', 'replace', r.dst, 'dev', dev, 'proto', 'kernel']
      if (r.scope != null) args.push('scope', r.scope)
      if (r.prefsrc != null) args.push('src', r.prefsrc)
      if (r.metric != null) args.push('metric', String(r.metric))
      if (await suggestCongestionControl(args, cc, netns, signal)) n++
    }
  }
  return n
}

export function netdevTunFactory (factoryOptions: NetdevTunFactoryOptions = {}): TunFactory {
  const { netns } = factoryOptions
  return async (options: TunOpenOptions, abort?: AbortOptions): Promise<VpnTun> => {
    const dev = await createTun({ name: options.name, mtu: options.mtu, offload: options.offload, netns, signal: abort?.signal, batchBytes: tunBatchBytes() })
    const where = { netns, signal: abort?.signal }
    const cc = options.congestionControl ?? ''
    /** The device's prefixes, and the extra routes, that carry `congctl cc`. */
    let congctlPrefixes = 0
    const congctlExtra = new Set<string>()
    /** Routes an extra prefix into the device (validated by addRoute), with `cc` suggested on it. */
    const routeInto = async (dst: string, signal?: AbortSignal): Promise<void> => {
      await addRoute({ dst, dev: dev.name }, { netns, signal })
      if (cc !== '' && await suggestCongestionControl([dst.includes(':') ? '-6' : '-4', 'route', 'replace', dst, 'dev', dev.name], cc, netns, signal)) congctlExtra.add(dst)
    }
    try {
      // (in a namespace, `nodad` below is enough: /proc/sys here is the host's)
      if (netns == null) await writeFile(`/proc/sys/net/ipv6/conf/${dev.name}/accept_dad`, '0').catch(() => {})
      for (const a of options.addresses) {
        if (a.includes(':')) await ip(['-6', 'addr', 'replace', a, 'dev', dev.name, 'nodad'], netns, where)
        else await addAddress(dev.name, a, where)
      }
      if (cc !== '') congctlPrefixes = await congestionControlOnPrefixes(dev.name, cc, netns, abort?.signal)
      for (const r of options.routes) await routeInto(r, abort?.signal)
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
        // congctlRoutes: routes carrying vpn.congestionControl (0 with '' or a kernel without it)
        return { ...dev.stats, readPauses: pauses, readPausedMs: Math.round(pausedMs), congctlRoutes: congctlPrefixes + congctlExtra.size }
      },
      write (batch) {
        dev.writeBatch(batch)
      },
      async setRoutes (next: string[]) {
        for (const r of routes) {
          if (next.includes(r)) continue
          await deleteRoute({ dst: r, dev: dev.name }, { netns }).catch(() => {})
          congctlExtra.delete(r)
        }
        for (const r of next) if (!routes.includes(r)) await routeInto(r)
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

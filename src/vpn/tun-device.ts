/**
 * The VPN's TUN factory on top of src/netdev: opens the device (offloads, MTU, txqueuelen,
 * gso_max_size are netdev's job), puts the member's addresses on it (IPv6 without duplicate
 * address detection, so the DNS responder can bind at once) and routes extra prefixes into it,
 * with `vpn.congestionControl` as `congctl` on those routes; puts all of it back when the link is
 * set down and up again (../netdev/link-watch.ts). The open's AbortSignal bounds the open only;
 * the device lives until the VPN closes it.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { addAddress, addRoute, deleteRoute } from '../netdev/link.js'
import { ip, ipJson, runIn } from '../netdev/exec.js'
import { createTun } from '../netdev/tun.js'
import { watchLinkUp } from '../netdev/link-watch.js'
import { createSerialQueue } from '../util/serial.js'
import { InvalidArgumentError } from '../errors.js'
import type { TunFactory, TunOpenOptions, VpnTun } from './types.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Logger } from '../logging.js'

export interface NetdevTunFactoryOptions {
  /** Network namespace to move the device into (tests, a node whose VPN lives in a namespace). */
  netns?: string
  /** Where a `vpn.congestionControl` the kernel refused is reported (the VPN's logger). */
  log?: Logger
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
 * link-local), rebuilt with their own attributes. Returns how many carry it now and how many the
 * kernel refused it on.
 */
async function congestionControlOnPrefixes (dev: string, cc: string, netns: string | undefined, signal: AbortSignal | undefined): Promise<{ applied: number, refused: number }> {
  let applied = 0
  let refused = 0
  for (const family of ['-4', '-6']) {
    for (const r of await ipJson<KernelRoute>([family, 'route', 'show', 'dev', dev, 'proto', 'kernel'], netns, { signal })) {
      if (r.dst.toLowerCase().startsWith('fe80:')) continue
      const args = [family, 'route', 'replace', r.dst, 'dev', dev, 'proto', 'kernel']
      if (r.scope != null) args.push('scope', r.scope)
      if (r.prefsrc != null) args.push('src', r.prefsrc)
      if (r.metric != null) args.push('metric', String(r.metric))
      if (await suggestCongestionControl(args, cc, netns, signal)) applied++
      else refused++
    }
  }
  return { applied, refused }
}

/**
 * The algorithms the kernel has registered, as seen from the namespace the device lives in (the
 * list is kernel-wide today, but read where the routes are, like `ip` does); undefined when unreadable.
 * Consulted only after the kernel refused `congctl`: a module it can load (tcp_bbr built as a
 * module) is missing from this list until first use, and `ip route ... congctl` loads it
 * (tcp_ca_get_key_by_name -> request_module("tcp_<name>") for a caller with CAP_NET_ADMIN), so
 * checking the list first would call a usable algorithm missing.
 */
export async function availableCongestionControl (netns: string | undefined, signal?: AbortSignal): Promise<string[] | undefined> {
  const path = '/proc/sys/net/ipv4/tcp_available_congestion_control'
  try {
    const text = netns == null ? await readFile(path, { encoding: 'utf8', signal }) : await runIn(netns, 'cat', [path], { signal })
    return text.split(/\s+/).filter(n => n !== '')
  } catch {
    return undefined
  }
}

/** One warning per device when the kernel refuses `cc` on a route: the operator's only sign of a typo. */
async function warnRefused (log: Logger | undefined, dev: string, cc: string, refused: number, netns: string | undefined): Promise<void> {
  if (log == null) return
  const available = await availableCongestionControl(netns)
  const listed = available?.join(' ') ?? 'unreadable'
  const msg = available != null && !available.includes(cc)
    ? `vpn.congestionControl "${cc}" is not a TCP congestion control this kernel has or could load (available: ${listed}): the VPN's routes keep the namespace's default`
    : `vpn.congestionControl "${cc}": the kernel refused congctl on the VPN's routes (available: ${listed}): they keep the namespace's default`
  log.warn({ device: dev, wanted: cc, available, refusedRoutes: refused }, msg)
}

export function netdevTunFactory (factoryOptions: NetdevTunFactoryOptions = {}): TunFactory {
  const { netns, log } = factoryOptions
  return async (options: TunOpenOptions, abort?: AbortOptions): Promise<VpnTun> => {
    const dev = await createTun({ name: options.name, mtu: options.mtu, offload: options.offload, netns, signal: abort?.signal, batchBytes: tunBatchBytes() })
    const cc = options.congestionControl ?? ''
    /** The device's prefixes, and the extra routes, that carry `congctl cc`, and that the kernel refused it on. */
    let congctlPrefixes = { applied: 0, refused: 0 }
    const congctlExtra = new Set<string>()
    const refusedExtra = new Set<string>()
    let warned = false
    const warnOnce = async (): Promise<void> => {
      const refused = congctlPrefixes.refused + refusedExtra.size
      if (warned || refused === 0) return
      warned = true
      await warnRefused(log, dev.name, cc, refused, netns)
    }
    /** Routes an extra prefix into the device (validated by addRoute), with `cc` suggested on it. */
    const routeInto = async (dst: string, signal?: AbortSignal): Promise<void> => {
      await addRoute({ dst, dev: dev.name }, { netns, signal })
      if (cc === '') return
      if (await suggestCongestionControl([dst.includes(':') ? '-6' : '-4', 'route', 'replace', dst, 'dev', dev.name], cc, netns, signal)) congctlExtra.add(dst)
      else refusedExtra.add(dst)
    }
    let routes = [...options.routes]
    /** Addresses, then `cc` on their prefixes' routes, then the extra routes: at open, and again after a link down/up. */
    const configure = async (signal?: AbortSignal): Promise<void> => {
      for (const a of options.addresses) {
        if (a.includes(':')) await ip(['-6', 'addr', 'replace', a, 'dev', dev.name, 'nodad'], netns, { signal })
        else await addAddress(dev.name, a, { netns, signal })
      }
      if (cc !== '') congctlPrefixes = await congestionControlOnPrefixes(dev.name, cc, netns, signal)
      for (const r of routes) await routeInto(r, signal)
      await warnOnce()
    }
    // A link down drops the device's routes and IPv6 addresses; the up brings back bare IPv4 prefix
    // routes only (docs/vpn.md, "Link down and up"). Route changes and these restores never interleave.
    const changes = createSerialQueue()
    let linkRestores = 0
    let linkRestoreFailures = 0
    const linkWatch = watchLinkUp(dev.name, {
      netns,
      alias: 'dmsnet vpn',
      onUp: () => {
        changes.run(async () => { await configure(); linkRestores++ }).catch((err: unknown) => {
          linkRestoreFailures++
          log?.warn({ err, device: dev.name }, 'could not put back the VPN device\'s addresses and routes after its link came up')
        })
      },
      onExit: (reason) => { log?.warn({ device: dev.name, reason }, 'the VPN device\'s link watch ended: a link down/up will not be repaired') }
    })
    try {
      // (in a namespace, `nodad` is enough: /proc/sys here is the host's)
      if (netns == null) await writeFile(`/proc/sys/net/ipv6/conf/${dev.name}/accept_dad`, '0').catch(() => {})
      // listening before configuring: a down/up from here on is repaired
      if (!await linkWatch.ready) log?.warn({ device: dev.name }, 'the VPN device\'s link watch did not start: a link down/up will not be repaired')
      abort?.signal?.throwIfAborted()
      await changes.run(async () => { await configure(abort?.signal) })
    } catch (err) {
      linkWatch.close()
      await dev.close().catch(() => {})
      throw err
    }
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
        // congctlRoutes: routes carrying vpn.congestionControl (0 with ''); congctlRefused: routes
        // the kernel refused it on (a name it lacks: logged once, with the algorithms it has)
        return {
          ...dev.stats,
          readPauses: pauses,
          readPausedMs: Math.round(pausedMs),
          congctlRoutes: congctlPrefixes.applied + congctlExtra.size,
          congctlRefused: congctlPrefixes.refused + refusedExtra.size,
          // linkRestores: times the addresses and routes were put back after the link came up again
          linkRestores,
          linkRestoreFailures
        }
      },
      write (batch) {
        dev.writeBatch(batch)
      },
      async setRoutes (next: string[]) {
        await changes.run(async () => {
          for (const r of routes) {
            if (next.includes(r)) continue
            await deleteRoute({ dst: r, dev: dev.name }, { netns }).catch(() => {})
            congctlExtra.delete(r)
            refusedExtra.delete(r)
          }
          for (const r of next) if (!routes.includes(r)) await routeInto(r)
          routes = [...next]
          await warnOnce()
        })
      },
      async close () {
        linkWatch.close()
        reader = undefined
        unsubscribe?.()
        if (onError != null) dev.removeEventListener('tun:error', onError)
        await dev.close()
      }
    }
  }
}

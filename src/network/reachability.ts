/**
 * How reachable we are, worked out from what libp2p tells us: the addresses we announce (after
 * AutoNAT has verified observed ones) and the addresses peers observe us at (identify).
 *
 * js-libp2p has no reachability or NAT-type event of its own (go-libp2p has both), so these pure
 * functions turn `self:peer:update` and `peer:identify` into our `reachability:changed` and
 * `nat:type-changed` events.
 */
import { isPrivateIp } from '@libp2p/utils'
import type { NatDeviceType, Reachability } from './types.js'
import type { Multiaddr } from '@multiformats/multiaddr'

interface IpPort { ip: string, port?: number, transport: 'tcp' | 'udp', circuit: boolean }

/** The IP, port and transport of a multiaddr, if it has an IP component. */
export function ipPortOf (ma: Multiaddr): IpPort | undefined {
  let ip: string | undefined
  let port: number | undefined
  let transport: 'tcp' | 'udp' = 'tcp'
  let circuit = false
  for (const c of ma.getComponents()) {
    if ((c.name === 'ip4' || c.name === 'ip6') && ip == null) ip = c.value
    else if ((c.name === 'tcp' || c.name === 'udp') && port == null && c.value != null) {
      port = Number(c.value)
      transport = c.name
    } else if (c.name === 'p2p-circuit') circuit = true
  }
  return ip == null ? undefined : { ip, port, transport, circuit }
}

function isPublicIp (ip: string): boolean {
  return isPrivateIp(ip) !== true && ip !== '0.0.0.0' && ip !== '::'
}

/**
 * `public` when we announce a direct (non-relayed) address with a public IP; `private` when we
 * announce only private/loopback or relayed addresses; `unknown` with no addresses at all.
 * Addresses with a DNS name count as public (an operator announced them on purpose).
 */
export function classifyReachability (addrs: Multiaddr[]): Reachability {
  if (addrs.length === 0) return 'unknown'
  for (const ma of addrs) {
    const names = ma.getComponents().map(c => c.name)
    if (names.includes('p2p-circuit')) continue
    if (names.some(n => n === 'dns' || n === 'dns4' || n === 'dns6' || n === 'dnsaddr')) return 'public'
    const ipp = ipPortOf(ma)
    if (ipp != null && isPublicIp(ipp.ip)) return 'public'
  }
  return 'private'
}

/**
 * Classifies our NAT from the addresses peers observe us at on outbound connections, like
 * go-libp2p's observed-address manager: several distinct observers seeing the same public
 * ip:port means the mapping does not depend on the destination (endpoint-independent, hole
 * punching works); the same public IP with a different port per observer means
 * endpoint-dependent (symmetric NAT). Only public observations count, so on a LAN or loopback the
 * type stays `unknown`.
 *
 * js-libp2p dials from ephemeral ports (no port reuse), so a node behind an endpoint-independent
 * NAT may still be seen at different ports: treat `endpoint-dependent` as a hint.
 */
export class NatTypeTracker {
  private readonly minObservers: number
  private readonly maxObservations: number
  /** transport -> observer peer -> "ip:port" */
  private readonly seen = new Map<'tcp' | 'udp', Map<string, string>>([['tcp', new Map()], ['udp', new Map()]])
  private readonly current = new Map<'tcp' | 'udp', NatDeviceType>([['tcp', 'unknown'], ['udp', 'unknown']])

  constructor (init: { minObservers?: number, maxObservations?: number } = {}) {
    this.minObservers = init.minObservers ?? 3
    this.maxObservations = init.maxObservations ?? 64
  }

  get tcp (): NatDeviceType { return this.current.get('tcp')! }
  get udp (): NatDeviceType { return this.current.get('udp')! }

  /**
   * Records that `observer` saw us at `observed`. Returns the new type for that transport when it
   * changed, else undefined.
   */
  observe (observer: string, observed: Multiaddr): { transport: 'tcp' | 'udp', natType: NatDeviceType } | undefined {
    const ipp = ipPortOf(observed)
    if (ipp == null || ipp.circuit || ipp.port == null || !isPublicIp(ipp.ip)) return undefined
    const map = this.seen.get(ipp.transport)!
    map.delete(observer)
    map.set(observer, `${ipp.ip}:${ipp.port}`)
    while (map.size > this.maxObservations) map.delete(map.keys().next().value!)
    const next = this.classify(map)
    if (next === this.current.get(ipp.transport)) return undefined
    this.current.set(ipp.transport, next)
    return { transport: ipp.transport, natType: next }
  }

  private classify (map: Map<string, string>): NatDeviceType {
    if (map.size < this.minObservers) return 'unknown'
    const counts = new Map<string, number>()
    for (const v of map.values()) counts.set(v, (counts.get(v) ?? 0) + 1)
    const best = Math.max(...counts.values())
    // majority at one ip:port -> stable mapping
    if (best >= this.minObservers && best * 2 > map.size) return 'endpoint-independent'
    const ips = new Set([...map.values()].map(v => v.slice(0, v.lastIndexOf(':'))))
    if (ips.size === 1 && counts.size >= this.minObservers) return 'endpoint-dependent'
    return 'unknown'
  }
}

/**
 * Links, addresses and routes through `ip -json` (execFile, no shell), with typed results. Every
 * call takes `{ netns }` to act inside a namespace. Setters are idempotent: addresses and routes
 * use `replace`, deletes of something absent succeed.
 */
import { CommandFailedError, InvalidArgumentError } from './errors.js'
import { ip, ipJson } from './exec.js'
import type { NetdevOptions } from './netns.js'
import { checkCidr, checkInterfaceName, checkIp, checkMtu, checkNamespaceName, checkOptionalNamespace } from './validate.js'

export type { NetdevOptions } from './netns.js'

export interface LinkInfo {
  index: number
  name: string
  mtu: number
  /** kernel operstate: UP, DOWN, UNKNOWN (TUN devices report UNKNOWN when up), LOWERLAYERDOWN */
  operstate: string
  /** administratively up (IFF_UP) */
  up: boolean
  flags: string[]
  txqlen?: number
  /** link kind from `ip -d`: tun, veth, bridge, ... */
  kind?: string
  /** bridge (or other master) this link is enslaved to */
  master?: string
  address?: string
  gsoMaxSize?: number
}

export interface AddressInfo {
  ifname: string
  family: 4 | 6
  address: string
  prefix: number
  /** `address/prefix` */
  cidr: string
  scope: string
}

export interface RouteInfo {
  dst: string
  dev?: string
  gateway?: string
  metric?: number
  protocol?: string
  scope?: string
}

interface RawLink {
  ifindex: number
  ifname: string
  mtu: number
  operstate: string
  flags: string[]
  txqlen?: number
  master?: string
  address?: string
  gso_max_size?: number
  linkinfo?: { info_kind?: string }
}

function toLink (r: RawLink): LinkInfo {
  return {
    index: r.ifindex,
    name: r.ifname,
    mtu: r.mtu,
    operstate: r.operstate,
    up: r.flags.includes('UP'),
    flags: r.flags,
    txqlen: r.txqlen,
    kind: r.linkinfo?.info_kind,
    master: r.master,
    address: r.address,
    gsoMaxSize: r.gso_max_size
  }
}

function ns (options?: NetdevOptions): string | undefined {
  return checkOptionalNamespace(options?.netns)
}

function isMissing (err: unknown): boolean {
  return err instanceof CommandFailedError && /does not exist|Cannot find device|No such device|Cannot assign requested address|Address not found|No such process/i.test(err.stderr)
}

export async function listLinks (options?: NetdevOptions): Promise<LinkInfo[]> {
  return (await ipJson<RawLink>(['-d', 'link', 'show'], ns(options), options)).map(toLink)
}

/** The link, or undefined when there is none of that name. */
export async function getLink (name: string, options?: NetdevOptions): Promise<LinkInfo | undefined> {
  checkInterfaceName(name)
  try {
    const [r] = await ipJson<RawLink>(['-d', 'link', 'show', 'dev', name], ns(options), options)
    return r == null ? undefined : toLink(r)
  } catch (err) {
    if (isMissing(err)) return undefined
    throw err
  }
}

export interface LinkSettings {
  up?: boolean
  mtu?: number
  txqueuelen?: number
  /** largest GSO super-packet the stack builds for this link (baselines: 60000 keeps it < 64 KiB) */
  gsoMaxSize?: number
}

/** Applies several link settings in one `ip link set` call. */
export async function setLink (name: string, settings: LinkSettings, options?: NetdevOptions): Promise<void> {
  checkInterfaceName(name)
  const args = ['link', 'set', 'dev', name]
  if (settings.mtu != null) args.push('mtu', String(checkMtu(settings.mtu)))
  if (settings.txqueuelen != null) {
    if (!Number.isInteger(settings.txqueuelen) || settings.txqueuelen < 0 || settings.txqueuelen > 1_000_000) throw new InvalidArgumentError(`invalid txqueuelen ${settings.txqueuelen}`)
    args.push('txqueuelen', String(settings.txqueuelen))
  }
  if (settings.gsoMaxSize != null) {
    if (!Number.isInteger(settings.gsoMaxSize) || settings.gsoMaxSize < 1 || settings.gsoMaxSize > 524280) throw new InvalidArgumentError(`invalid gso_max_size ${settings.gsoMaxSize}`)
    args.push('gso_max_size', String(settings.gsoMaxSize))
  }
  if (settings.up === true) args.push('up')
  if (settings.up === false) args.push('down')
  if (args.length === 4) return
  await ip(args, ns(options), options)
}

/** Brings a link up (`setLink(name, { up: true })`). */
export async function setLinkUp (name: string, options?: NetdevOptions): Promise<void> {
  await setLink(name, { up: true }, options)
}

/** Takes a link down (`setLink(name, { up: false })`). */
export async function setLinkDown (name: string, options?: NetdevOptions): Promise<void> {
  await setLink(name, { up: false }, options)
}

/** Sets a link's MTU (`setLink(name, { mtu })`). */
export async function setMtu (name: string, mtu: number, options?: NetdevOptions): Promise<void> {
  await setLink(name, { mtu }, options)
}

/** Moves a link into namespace `target` (from `options.netns`, or from ours). Its addresses are lost, as the kernel does. */
export async function moveLinkToNetns (name: string, target: string, options?: NetdevOptions): Promise<void> {
  checkInterfaceName(name)
  checkNamespaceName(target)
  await ip(['link', 'set', 'dev', name, 'netns', target], ns(options), options)
}

/** Deletes a link; absent already is fine. */
export async function deleteLink (name: string, options?: NetdevOptions): Promise<void> {
  checkInterfaceName(name)
  try {
    await ip(['link', 'del', 'dev', name], ns(options), options)
  } catch (err) {
    if (isMissing(err)) return
    throw err
  }
}

/** Adds (or keeps) `cidr` on the link. */
export async function addAddress (name: string, cidr: string, options?: NetdevOptions): Promise<void> {
  checkInterfaceName(name)
  const c = checkCidr(cidr)
  await ip([c.family === 6 ? '-6' : '-4', 'addr', 'replace', c.text, 'dev', name], ns(options), options)
}

export async function deleteAddress (name: string, cidr: string, options?: NetdevOptions): Promise<void> {
  checkInterfaceName(name)
  const c = checkCidr(cidr)
  try {
    await ip([c.family === 6 ? '-6' : '-4', 'addr', 'del', c.text, 'dev', name], ns(options), options)
  } catch (err) {
    if (isMissing(err)) return
    throw err
  }
}

interface RawAddr { ifname: string, addr_info: Array<{ family: string, local: string, prefixlen: number, scope: string }> }

/** Addresses of one link, or of all links when `name` is absent. */
export async function listAddresses (name?: string, options?: NetdevOptions): Promise<AddressInfo[]> {
  const args = ['addr', 'show']
  if (name != null) args.push('dev', checkInterfaceName(name))
  const raw = await ipJson<RawAddr>(args, ns(options), options)
  const out: AddressInfo[] = []
  for (const l of raw) {
    for (const a of l.addr_info ?? []) {
      if (a.local == null) continue
      const family = a.family === 'inet6' ? 6 : 4
      out.push({ ifname: l.ifname, family, address: a.local, prefix: a.prefixlen, cidr: `${a.local}/${a.prefixlen}`, scope: a.scope })
    }
  }
  return out
}

export interface RouteSpec {
  /** destination CIDR, or `default` */
  dst: string
  dev?: string
  via?: string
  metric?: number
  /** source address hint */
  src?: string
}

function routeArgs (r: RouteSpec): { family: 4 | 6, args: string[] } {
  let family: 4 | 6 = 4
  const args: string[] = []
  if (r.dst === 'default') {
    args.push('default')
    if (r.via != null) family = checkIp(r.via).family
  } else {
    const c = checkCidr(r.dst)
    family = c.family
    args.push(c.text)
  }
  if (r.via != null) {
    const g = checkIp(r.via)
    if (g.family !== family) throw new InvalidArgumentError(`gateway ${r.via} is not of the destination's family`)
    args.push('via', g.address)
  }
  if (r.dev != null) args.push('dev', checkInterfaceName(r.dev))
  if (r.src != null) args.push('src', checkIp(r.src).address)
  if (r.metric != null) {
    if (!Number.isInteger(r.metric) || r.metric < 0 || r.metric > 0xffffffff) throw new InvalidArgumentError(`invalid metric ${r.metric}`)
    args.push('metric', String(r.metric))
  }
  if (r.dev == null && r.via == null) throw new InvalidArgumentError('a route needs dev or via')
  return { family, args }
}

/** Adds or replaces a route (idempotent). */
export async function addRoute (route: RouteSpec, options?: NetdevOptions): Promise<void> {
  const { family, args } = routeArgs(route)
  await ip([family === 6 ? '-6' : '-4', 'route', 'replace', ...args], ns(options), options)
}

export async function deleteRoute (route: RouteSpec, options?: NetdevOptions): Promise<void> {
  const { family, args } = routeArgs(route)
  try {
    await ip([family === 6 ? '-6' : '-4', 'route', 'del', ...args], ns(options), options)
  } catch (err) {
    if (isMissing(err)) return
    throw err
  }
}

interface RawRoute { dst: string, dev?: string, gateway?: string, metric?: number, protocol?: string, scope?: string }

export async function listRoutes (family: 4 | 6 = 4, options?: NetdevOptions): Promise<RouteInfo[]> {
  const raw = await ipJson<RawRoute>([family === 6 ? '-6' : '-4', 'route', 'show'], ns(options), options)
  return raw.map(r => ({ dst: r.dst, dev: r.dev, gateway: r.gateway, metric: r.metric, protocol: r.protocol, scope: r.scope }))
}

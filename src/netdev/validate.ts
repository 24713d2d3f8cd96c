/**
 * Input checks shared by every netdev call. Each returns the normalised value or throws a named
 * error, so nothing reaches `ip`/`nft` (or the kernel) that could be read as an option or a
 * second argument.
 */
import { isIP } from 'node:net'
import { InvalidAddressError, InvalidInterfaceNameError, InvalidNamespaceNameError, InvalidPortError } from './errors.js'

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/
const NSNAME = /^[A-Za-z0-9_.-]{1,64}$/

export function checkInterfaceName (name: unknown): string {
  if (typeof name !== 'string' || !IFNAME.test(name) || name === '.' || name === '..' || name.startsWith('-')) {
    throw new InvalidInterfaceNameError(`invalid interface name ${JSON.stringify(name)}: 1-15 characters of [A-Za-z0-9_.-], not starting with "-"`)
  }
  return name
}

export function checkNamespaceName (name: unknown): string {
  if (typeof name !== 'string' || !NSNAME.test(name) || name === '.' || name === '..' || name.startsWith('-')) {
    throw new InvalidNamespaceNameError(`invalid namespace name ${JSON.stringify(name)}: 1-64 characters of [A-Za-z0-9_.-], not starting with "-"`)
  }
  return name
}

export function checkOptionalNamespace (ns: unknown): string | undefined {
  return ns == null ? undefined : checkNamespaceName(ns)
}

/** An IPv4 or IPv6 address without prefix; returns its family. */
export function checkIp (addr: unknown): { address: string, family: 4 | 6 } {
  if (typeof addr !== 'string') throw new InvalidAddressError(`invalid IP address ${JSON.stringify(addr)}`)
  const family = isIP(addr)
  if (family === 0) throw new InvalidAddressError(`invalid IP address ${JSON.stringify(addr)}`)
  return { address: addr, family: family as 4 | 6 }
}

export interface Cidr {
  address: string
  prefix: number
  family: 4 | 6
  /** canonical `address/prefix` text */
  text: string
}

/** `addr/prefix` (a bare address means a host route: /32 or /128). */
export function checkCidr (cidr: unknown): Cidr {
  if (typeof cidr !== 'string') throw new InvalidAddressError(`invalid CIDR ${JSON.stringify(cidr)}`)
  const slash = cidr.indexOf('/')
  const addr = slash < 0 ? cidr : cidr.slice(0, slash)
  const family = isIP(addr)
  if (family === 0) throw new InvalidAddressError(`invalid CIDR ${JSON.stringify(cidr)}: bad address`)
  const max = family === 4 ? 32 : 128
  let prefix = max
  if (slash >= 0) {
    const p = cidr.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new InvalidAddressError(`invalid CIDR ${JSON.stringify(cidr)}: prefix must be 0-${max}`)
    prefix = Number(p)
  }
  return { address: addr, prefix, family: family as 4 | 6, text: `${addr}/${prefix}` }
}

export function checkPort (port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidPortError(`invalid port ${JSON.stringify(port)}: integer 1-65535`)
  }
  return port
}

export function checkMtu (mtu: unknown): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new InvalidAddressError(`invalid MTU ${JSON.stringify(mtu)}: integer 68-65535`)
  }
  return mtu
}

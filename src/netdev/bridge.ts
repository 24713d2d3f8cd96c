/**
 * Linux bridges: create (optionally addressed and up), attach and detach ports, delete. Ports must
 * live in the bridge's namespace; attaching a port also brings it up.
 */
import type { AbortOptions } from '@libp2p/interface'
import { InvalidArgumentError, NotFoundError } from './errors.js'
import { ip } from './exec.js'
import { addAddress, deleteLink, getLink, setLink } from './link.js'
import type { NetdevOptions } from './netns.js'
import { checkCidr, checkInterfaceName, checkMtu, checkOptionalNamespace } from './validate.js'

export interface BridgeOptions {
  name: string
  netns?: string
  addresses?: string[]
  mtu?: number
  up?: boolean
}

export interface Bridge {
  readonly name: string
  readonly netns?: string
  attach: (port: string, options?: AbortOptions) => Promise<void>
  detach: (port: string, options?: AbortOptions) => Promise<void>
  /** names of the ports currently enslaved to this bridge */
  ports: (options?: AbortOptions) => Promise<string[]>
  delete: (options?: AbortOptions) => Promise<void>
}

export async function createBridge (options: BridgeOptions, abort?: AbortOptions): Promise<Bridge> {
  const name = checkInterfaceName(options?.name)
  const netns = checkOptionalNamespace(options.netns)
  for (const c of options.addresses ?? []) checkCidr(c)
  if (options.mtu != null) checkMtu(options.mtu)
  const existing = await getLink(name, { netns, signal: abort?.signal })
  if (existing != null && existing.kind !== 'bridge') throw new InvalidArgumentError(`${name} exists and is not a bridge`)
  const created = existing == null
  if (created) await ip(['link', 'add', 'name', name, 'type', 'bridge'], netns, abort)
  try {
    for (const c of options.addresses ?? []) await addAddress(name, c, { netns, signal: abort?.signal })
    await setLink(name, { mtu: options.mtu, up: options.up ?? true }, { netns, signal: abort?.signal })
  } catch (err) {
    if (created) await deleteLink(name, { netns }).catch(() => {})
    throw err
  }
  return {
    name,
    netns,
    attach: async (port, opts) => { await attachToBridge(name, port, { netns, signal: opts?.signal }) },
    detach: async (port, opts) => { await detachFromBridge(port, { netns, signal: opts?.signal }) },
    ports: async (opts) => await bridgePorts(name, { netns, signal: opts?.signal }),
    delete: async (opts) => { await deleteLink(name, { netns, signal: opts?.signal }) }
  }
}

/** Enslaves `port` to `bridge` and brings the port up (idempotent). */
export async function attachToBridge (bridge: string, port: string, options?: NetdevOptions): Promise<void> {
  checkInterfaceName(bridge)
  checkInterfaceName(port)
  const netns = checkOptionalNamespace(options?.netns)
  const b = await getLink(bridge, { netns, signal: options?.signal })
  if (b?.kind !== 'bridge') throw new NotFoundError(`no bridge ${bridge}${netns != null ? ` in ${netns}` : ''}`)
  await ip(['link', 'set', 'dev', port, 'master', bridge, 'up'], netns, options)
}

/** Releases `port` from whatever bridge holds it (idempotent; a missing port is fine). */
async function detachFromBridge (port: string, options?: NetdevOptions): Promise<void> {
  checkInterfaceName(port)
  const netns = checkOptionalNamespace(options?.netns)
  const p = await getLink(port, { netns, signal: options?.signal })
  if (p?.master == null) return
  await ip(['link', 'set', 'dev', port, 'nomaster'], netns, options)
}

async function bridgePorts (bridge: string, options?: NetdevOptions): Promise<string[]> {
  checkInterfaceName(bridge)
  const out = await ip(['-json', 'link', 'show', 'master', bridge], checkOptionalNamespace(options?.netns), options)
  if (out.trim() === '') return []
  return (JSON.parse(out) as Array<{ ifname: string }>).map(l => l.ifname)
}

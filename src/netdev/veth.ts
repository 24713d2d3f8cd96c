/**
 * veth pairs: create a pair with each end in a namespace of choice, addressed and up, in one call
 * that either completes or leaves nothing behind; delete removes both ends.
 */
import type { AbortOptions } from '@libp2p/interface'
import { InvalidArgumentError } from './errors.js'
import { ip } from './exec.js'
import { addAddress, deleteLink, getLink, setLink } from './link.js'
import { checkCidr, checkInterfaceName, checkMtu, checkOptionalNamespace } from './validate.js'

export interface VethEndOptions {
  name: string
  /** namespace the end lives in; ours when absent */
  netns?: string
  /** addresses (CIDR) to put on this end */
  addresses?: string[]
}

export interface VethOptions {
  a: VethEndOptions
  b: VethEndOptions
  mtu?: number
  txqueuelen?: number
  /** bring both ends up (default true) */
  up?: boolean
}

export interface Veth {
  readonly a: Readonly<VethEndOptions>
  readonly b: Readonly<VethEndOptions>
  /** Deletes the pair (deleting one end removes both). Never throws for an already-gone pair. */
  delete: (options?: AbortOptions) => Promise<void>
}

export async function createVeth (options: VethOptions, abort?: AbortOptions): Promise<Veth> {
  const a = { ...options.a, name: checkInterfaceName(options.a?.name), netns: checkOptionalNamespace(options.a?.netns) }
  const b = { ...options.b, name: checkInterfaceName(options.b?.name), netns: checkOptionalNamespace(options.b?.netns) }
  if (a.name === b.name && a.netns === b.netns) throw new InvalidArgumentError('veth ends need different names in the same namespace')
  for (const c of [...(a.addresses ?? []), ...(b.addresses ?? [])]) checkCidr(c)
  if (options.mtu != null) checkMtu(options.mtu)

  const existing = await getLink(a.name, { netns: a.netns, signal: abort?.signal })
  const created = existing == null
  if (existing != null && existing.kind !== 'veth') throw new InvalidArgumentError(`${a.name} exists and is not a veth (${existing.kind ?? 'unknown kind'})`)
  if (created) {
    const args = ['link', 'add', a.name]
    if (a.netns != null) args.push('netns', a.netns)
    args.push('type', 'veth', 'peer', 'name', b.name)
    if (b.netns != null) args.push('netns', b.netns)
    await ip(args, undefined, abort)
  }
  try {
    for (const end of [a, b]) {
      for (const c of end.addresses ?? []) await addAddress(end.name, c, { netns: end.netns, signal: abort?.signal })
      await setLink(end.name, { mtu: options.mtu, txqueuelen: options.txqueuelen, up: options.up ?? true }, { netns: end.netns, signal: abort?.signal })
    }
  } catch (err) {
    if (created) await deleteLink(a.name, { netns: a.netns }).catch(() => {})
    throw err
  }
  return {
    a,
    b,
    delete: async (opts?: AbortOptions) => {
      await deleteLink(a.name, { netns: a.netns, signal: opts?.signal })
      await deleteLink(b.name, { netns: b.netns, signal: opts?.signal })
    }
  }
}

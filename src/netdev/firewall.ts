/**
 * A firewall on nftables that owns one table (`inet dmsnet` by default) and never touches anyone
 * else's rules. Rules are typed objects: filter rules (allow/deny by peer address, subnet,
 * protocol, port, interface), port mappings (DNAT) and masquerading per subnet. Each gets an id
 * and is removable on its own.
 *
 * The table is declarative (Tailscale's linuxfw runner does the same): the desired rule set lives
 * here, and every change rewrites our whole table in ONE `nft -f -` transaction (create-if-absent,
 * delete, recreate). The kernel applies the transaction atomically: no moment without rules, and a
 * failing change applies nothing (our in-memory state is rolled back too). Each rule carries a
 * `comment "dmsnet:<id>"` so an operator can tell ours apart in `nft list ruleset`. stop() deletes
 * the table: everything we added goes, nothing else does. Works inside a namespace
 * (`ip netns exec NS nft ...`).
 */
import type { AbortOptions } from '@libp2p/interface'
import { InvalidRuleError, NotFoundError } from './errors.js'
import { runIn } from './exec.js'
import { checkCidr, checkInterfaceName, checkIp, checkOptionalNamespace, checkPort, type Cidr } from './validate.js'

export type Protocol = 'tcp' | 'udp' | 'icmp' | 'icmpv6'

export interface FilterRule {
  /** accept = allow, drop = silently deny, reject = deny with an ICMP error / TCP reset */
  action: 'accept' | 'drop' | 'reject'
  /** input: to this host; forward: routed through it (default input) */
  chain?: 'input' | 'forward'
  /** peer address or subnet (CIDR) the packet comes from */
  source?: string
  /** address or subnet the packet goes to */
  destination?: string
  protocol?: Protocol
  /** destination port or inclusive range; needs protocol tcp or udp */
  port?: number | [number, number]
  /** input interface name */
  inInterface?: string
  /** output interface name (forward chain) */
  outInterface?: string
}

export interface PortMapping {
  protocol: 'tcp' | 'udp'
  /** port on this host to map */
  port: number
  /** where connections go: an address (and port, default the same) */
  to: { address: string, port?: number }
  /** only packets arriving on this interface */
  inInterface?: string
  /** only packets from this peer/subnet */
  source?: string
  /** only packets to this local address (family decides ip/ip6 when given) */
  destination?: string
}

export interface Masquerade {
  /** subnet whose outgoing packets get the outgoing interface's address */
  source: string
  /** only when leaving through this interface */
  outInterface?: string
  /** never when going to this subnet (e.g. the subnet itself) */
  excludeDestination?: string
}

export type RuleKind = 'filter' | 'port-mapping' | 'masquerade'

export type RuleEntry =
  | { id: string, kind: 'filter', rule: FilterRule }
  | { id: string, kind: 'port-mapping', rule: PortMapping }
  | { id: string, kind: 'masquerade', rule: Masquerade }

export interface RuleCounter { packets: number, bytes: number }

export interface FirewallOptions {
  /** our table's name (family inet); default `dmsnet` */
  table?: string
  /** act inside this namespace */
  netns?: string
  /** policy of our input chain (default accept). With drop, established traffic is still accepted. */
  inputPolicy?: 'accept' | 'drop'
  /** policy of our forward chain (default accept) */
  forwardPolicy?: 'accept' | 'drop'
}

export interface Firewall {
  readonly table: string
  readonly netns?: string
  /** Creates our table (replacing a stale one of the same name left by a crash). */
  start: (options?: AbortOptions) => Promise<void>
  /** Adds rules in one transaction; returns their ids. All or none. */
  add: (entries: Array<Omit<RuleEntry, 'id'> & { id?: string }>, options?: AbortOptions) => Promise<string[]>
  addRule: (rule: FilterRule, options?: AbortOptions & { id?: string }) => Promise<string>
  addPortMapping: (mapping: PortMapping, options?: AbortOptions & { id?: string }) => Promise<string>
  addMasquerade: (masquerade: Masquerade, options?: AbortOptions & { id?: string }) => Promise<string>
  /** Removes rules by id (in one transaction); unknown ids throw NotFoundError and remove nothing. */
  remove: (ids: string | string[], options?: AbortOptions) => Promise<void>
  list: () => RuleEntry[]
  /** The nft script for the current rule set (what is applied). */
  render: () => string
  /**
   * Packets and bytes each rule has matched, by rule id (read from the kernel's rule counters).
   * Counters restart from zero whenever the rule set changes, since every change rewrites the table.
   */
  counters: (options?: AbortOptions) => Promise<Map<string, RuleCounter>>
  /** Deletes our table: everything we added goes. Never throws if it is already gone. */
  stop: (options?: AbortOptions) => Promise<void>
}

const TABLE = /^[A-Za-z][A-Za-z0-9_]{0,31}$/
const ID = /^[A-Za-z0-9_.:-]{1,64}$/

function fam (c: Cidr): 'ip' | 'ip6' { return c.family === 4 ? 'ip' : 'ip6' }

function checkProtocol (p: unknown): Protocol {
  if (p !== 'tcp' && p !== 'udp' && p !== 'icmp' && p !== 'icmpv6') throw new InvalidRuleError(`unknown protocol ${JSON.stringify(p)}`)
  return p
}

function portExpr (port: number | [number, number]): string {
  if (Array.isArray(port)) {
    const [a, b] = [checkPort(port[0]), checkPort(port[1])]
    if (a > b) throw new InvalidRuleError(`port range ${a}-${b} is reversed`)
    return `${a}-${b}`
  }
  return String(checkPort(port))
}

/** Renders the match part of a filter rule, validating every field. */
function renderFilter (r: FilterRule): string {
  if (r == null || typeof r !== 'object') throw new InvalidRuleError('a filter rule is an object')
  if (r.action !== 'accept' && r.action !== 'drop' && r.action !== 'reject') throw new InvalidRuleError(`unknown action ${JSON.stringify(r.action)}`)
  if (r.chain != null && r.chain !== 'input' && r.chain !== 'forward') throw new InvalidRuleError(`unknown chain ${JSON.stringify(r.chain)}`)
  const parts: string[] = []
  if (r.inInterface != null) parts.push(`iifname "${checkInterfaceName(r.inInterface)}"`)
  if (r.outInterface != null) {
    if (r.chain !== 'forward') throw new InvalidRuleError('outInterface only applies to the forward chain')
    parts.push(`oifname "${checkInterfaceName(r.outInterface)}"`)
  }
  let family: 4 | 6 | undefined
  if (r.source != null) { const c = checkCidr(r.source); family = c.family; parts.push(`${fam(c)} saddr ${c.text}`) }
  if (r.destination != null) {
    const c = checkCidr(r.destination)
    if (family != null && family !== c.family) throw new InvalidRuleError('source and destination are of different families')
    family = c.family
    parts.push(`${fam(c)} daddr ${c.text}`)
  }
  if (r.protocol != null) {
    const p = checkProtocol(r.protocol)
    if ((p === 'icmp' && family === 6) || (p === 'icmpv6' && family === 4)) throw new InvalidRuleError(`${p} does not match the address family`)
    if (r.port != null) {
      if (p !== 'tcp' && p !== 'udp') throw new InvalidRuleError('a port needs protocol tcp or udp')
      parts.push(`${p} dport ${portExpr(r.port)}`)
    } else {
      parts.push(p === 'icmp' ? 'meta l4proto icmp' : p === 'icmpv6' ? 'meta l4proto ipv6-icmp' : `meta l4proto ${p}`)
    }
  } else if (r.port != null) {
    throw new InvalidRuleError('a port needs protocol tcp or udp')
  }
  parts.push('counter', r.action)
  return parts.join(' ')
}

function renderMapping (m: PortMapping): string {
  if (m == null || typeof m !== 'object') throw new InvalidRuleError('a port mapping is an object')
  if (m.protocol !== 'tcp' && m.protocol !== 'udp') throw new InvalidRuleError(`a port mapping's protocol is tcp or udp, not ${JSON.stringify(m.protocol)}`)
  const port = checkPort(m.port)
  if (m.to == null || typeof m.to !== 'object') throw new InvalidRuleError('a port mapping needs `to`')
  const target = checkIp(m.to.address)
  const toPort = checkPort(m.to.port ?? port)
  const parts: string[] = []
  if (m.inInterface != null) parts.push(`iifname "${checkInterfaceName(m.inInterface)}"`)
  const f = target.family === 4 ? 'ip' : 'ip6'
  for (const [key, v] of [['saddr', m.source], ['daddr', m.destination]] as const) {
    if (v == null) continue
    const c = checkCidr(v)
    if (c.family !== target.family) throw new InvalidRuleError(`${key} ${v} is not of the target's family`)
    parts.push(`${f} ${key} ${c.text}`)
  }
  parts.push(target.family === 4 ? 'meta nfproto ipv4' : 'meta nfproto ipv6')
  parts.push(`${m.protocol} dport ${port}`)
  parts.push('counter', `dnat ${f} to ${target.family === 4 ? target.address : `[${target.address}]`}:${toPort}`)
  return parts.join(' ')
}

function renderMasquerade (m: Masquerade): string {
  if (m == null || typeof m !== 'object') throw new InvalidRuleError('a masquerade is an object')
  const c = checkCidr(m.source)
  const parts = [`${fam(c)} saddr ${c.text}`]
  if (m.excludeDestination != null) {
    const d = checkCidr(m.excludeDestination)
    if (d.family !== c.family) throw new InvalidRuleError('excludeDestination is not of the source family')
    parts.push(`${fam(d)} daddr != ${d.text}`)
  }
  if (m.outInterface != null) parts.push(`oifname "${checkInterfaceName(m.outInterface)}"`)
  parts.push('counter', 'masquerade')
  return parts.join(' ')
}

function renderEntry (e: RuleEntry): string {
  switch (e.kind) {
    case 'filter': return renderFilter(e.rule)
    case 'port-mapping': return renderMapping(e.rule)
    case 'masquerade': return renderMasquerade(e.rule)
    default: throw new InvalidRuleError(`unknown rule kind ${JSON.stringify((e as { kind: unknown }).kind)}`)
  }
}

export function createFirewall (options: FirewallOptions = {}): Firewall {
  const table = options.table ?? 'dmsnet'
  if (!TABLE.test(table)) throw new InvalidRuleError(`invalid table name ${JSON.stringify(table)}`)
  const netns = checkOptionalNamespace(options.netns)
  const inputPolicy = options.inputPolicy ?? 'accept'
  const forwardPolicy = options.forwardPolicy ?? 'accept'
  for (const p of [inputPolicy, forwardPolicy]) if (p !== 'accept' && p !== 'drop') throw new InvalidRuleError(`policy must be accept or drop, not ${JSON.stringify(p)}`)
  let entries: RuleEntry[] = []
  let started = false
  let seq = 0

  const render = (list: RuleEntry[]): string => {
    const lines = (kind: RuleKind, chain?: 'input' | 'forward'): string[] => list
      .filter(e => e.kind === kind && (kind !== 'filter' || ((e.rule as FilterRule).chain ?? 'input') === chain))
      .map(e => `    ${renderEntry(e)} comment "dmsnet:${e.id}"`)
    const established = (policy: string): string[] => policy === 'drop' ? ['    ct state established,related accept', '    iifname "lo" accept'] : []
    return [
      `table inet ${table} {`,
      '  chain input {',
      `    type filter hook input priority filter; policy ${inputPolicy};`,
      ...established(inputPolicy),
      ...lines('filter', 'input'),
      '  }',
      '  chain forward {',
      `    type filter hook forward priority filter; policy ${forwardPolicy};`,
      ...(forwardPolicy === 'drop' ? ['    ct state established,related accept'] : []),
      ...lines('filter', 'forward'),
      '  }',
      '  chain prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      ...lines('port-mapping'),
      '  }',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      ...lines('masquerade'),
      '  }',
      '}'
    ].join('\n')
  }

  // one transaction: make sure the table exists, drop it, write it anew
  const apply = async (list: RuleEntry[], abort?: AbortOptions): Promise<void> => {
    const script = `table inet ${table}\ndelete table inet ${table}\n${render(list)}\n`
    await runIn(netns, 'nft', ['-f', '-'], { input: script, signal: abort?.signal })
  }

  const add = async (news: Array<Omit<RuleEntry, 'id'> & { id?: string }>, abort?: AbortOptions): Promise<string[]> => {
    if (!started) await fw.start(abort)
    const made: RuleEntry[] = []
    const ids = new Set(entries.map(e => e.id))
    for (const n of news) {
      const id = n.id ?? `${n.kind}-${++seq}`
      if (!ID.test(id)) throw new InvalidRuleError(`invalid rule id ${JSON.stringify(id)}`)
      if (ids.has(id)) throw new InvalidRuleError(`rule id ${id} is already in use`)
      ids.add(id)
      const e = { ...n, id } as RuleEntry
      renderEntry(e) // validate before touching the kernel
      made.push(e)
    }
    const next = [...entries, ...made]
    await apply(next, abort)
    entries = next
    return made.map(e => e.id)
  }

  const fw: Firewall = {
    table,
    netns,
    start: async (abort) => {
      await apply(entries, abort)
      started = true
    },
    add,
    addRule: async (rule, o) => (await add([{ kind: 'filter', rule, id: o?.id }], o))[0]!,
    addPortMapping: async (rule, o) => (await add([{ kind: 'port-mapping', rule, id: o?.id }], o))[0]!,
    addMasquerade: async (rule, o) => (await add([{ kind: 'masquerade', rule, id: o?.id }], o))[0]!,
    remove: async (ids, abort) => {
      const drop = new Set(Array.isArray(ids) ? ids : [ids])
      for (const id of drop) if (!entries.some(e => e.id === id)) throw new NotFoundError(`no firewall rule ${id}`)
      const next = entries.filter(e => !drop.has(e.id))
      await apply(next, abort)
      entries = next
    },
    list: () => entries.map(e => ({ ...e, rule: { ...e.rule } }) as RuleEntry),
    render: () => render(entries),
    counters: async (abort) => {
      const out = await runIn(netns, 'nft', ['-j', 'list', 'table', 'inet', table], { signal: abort?.signal })
      return parseCounters(out)
    },
    stop: async (abort) => {
      started = false
      // create-then-delete in one transaction: succeeds whether or not the table is there
      try {
        await runIn(netns, 'nft', ['-f', '-'], { input: `table inet ${table}\ndelete table inet ${table}\n`, signal: abort?.signal })
      } catch {
        // the namespace may be gone (and our table with it): nothing of ours is left
      }
    }
  }
  return fw
}

/** Rule counters by dmsnet rule id, from `nft -j list table` output. */
function parseCounters (json: string): Map<string, RuleCounter> {
  const out = new Map<string, RuleCounter>()
  const doc = JSON.parse(json) as { nftables?: Array<{ rule?: { comment?: string, expr?: Array<Record<string, unknown>> } }> }
  for (const item of doc.nftables ?? []) {
    const rule = item.rule
    if (rule?.comment?.startsWith('dmsnet:') !== true) continue
    const c = rule.expr?.find(e => 'counter' in e)?.counter as RuleCounter | undefined
    if (c != null) out.set(rule.comment.slice('dmsnet:'.length), { packets: Number(c.packets), bytes: Number(c.bytes) })
  }
  return out
}

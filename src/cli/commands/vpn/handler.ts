/**
 * What `dmsnet vpn ...` does: one control call per subcommand, printed as text or JSON.
 */
import type { VpnStatus } from '../../../vpn/types.js'
import type { ActionArgs } from '../../context.js'

export interface JsonOpt { json?: boolean }

function bytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

/** The DNS responder's line of `vpn status` (and its forwarder's counters when forwarding is on). */
export function formatDns (d: NonNullable<VpnStatus['dns']>): string {
  const f = d.forward
  const fwd = f != null ? `; forwarded ${f.forwarded}, cache hits ${f.cacheHits} (${f.cacheEntries} cached), timeouts ${f.timeouts}, busy ${f.busy}, servfail ${f.servfail}, bad replies ${f.badReplies}` : ''
  return `dns:       queries ${d.queries}, answered ${d.answered}, nxdomain ${d.nxdomain}, malformed ${d.malformed}${fwd}`
}

/**
 * The TUN device's line of `vpn status`: traffic, then only the trouble counters that are not zero
 * (an operator reads this line for "is anything being dropped or refused", not for every counter;
 * `--json` has them all).
 */
export function formatTun (t: Record<string, number>, ackThinned?: number): string {
  const n = (k: string): number => t[k] ?? 0
  const trouble = ['rxErrors', 'txErrors', 'txDrops', 'txRoomGaveUp', 'congctlRefused', 'linkRestores', 'linkRestoreFailures', 'readPauses']
    .filter(k => n(k) > 0).map(k => `${k} ${n(k)}`)
  const cc = n('congctlRoutes') > 0 ? [`congctl on ${n('congctlRoutes')} routes`] : []
  const thin = ackThinned != null && ackThinned > 0 ? [`acks thinned ${ackThinned}`] : []
  return [
    `tun:       rx ${bytes(n('rxBytes'))}/${n('rxPackets')}p, tx ${bytes(n('txBytes'))}/${n('txPackets')}p`,
    ...cc, ...thin, ...(trouble.length > 0 ? trouble : ['no errors or drops'])
  ].join('; ')
}

/**
 * The authority's line for members that have not taken the current membership yet. A member is
 * named as the table below names it (its name and the end of its peer ID), so that an operator can
 * find it in the table and in `dmsnet peers`; the IDs alone are in `--json`.
 */
function formatPushes (s: VpnStatus, pushes: NonNullable<VpnStatus['pushes']>): string {
  const names = new Map(s.peers.map(p => [p.peerId, p.name]))
  const who = pushes.pending.map(id => {
    const name = names.get(id)
    return name != null && name !== '' ? `${name} ${id.slice(-8)}` : id.slice(-8)
  })
  return `pushes:    ${pushes.pending.length} member(s) not yet on version ${s.version}${who.length > 0 ? ` (${who.join(', ')})` : ''}; pushed again ${pushes.retries}, taken after a retry ${pushes.recovered}`
}

export function formatStatus (s: VpnStatus): string {
  if (s.state === 'idle') return 'VPN: not configured (dmsnet vpn up <peer...> to start one, or wait for an invitation)'
  const lines = [
    `VPN:       ${s.state}${s.isAuthority ? ' (authority)' : ` (authority ${s.authority ?? '-'})`}, version ${s.version}`,
    `interface: ${s.interface ?? '-'} mtu ${s.mtu ?? '-'}  range ${s.cidr ?? '-'} ${s.ipv6Prefix ?? ''}  domain ${s.domain ?? '-'}`,
    `address:   ${s.ipv4 ?? '-'} ${s.ipv6 ?? ''}`,
    `drops:     no-route ${s.dropNoRoute}, not-member ${s.dropNotMember}`,
    ...(s.tun != null ? [formatTun(s.tun, s.ackThinned)] : []),
    ...(s.pushes != null && (s.pushes.pending.length > 0 || s.pushes.retries > 0) ? [formatPushes(s, s.pushes)] : []),
    ...(s.applyError != null ? [`apply:     could not apply version ${s.version}: ${s.applyError} (tried again at the next push or refresh)`] : []),
    ...(s.dns != null ? [formatDns(s.dns)] : []),
    '',
    'NAME             IPV4             PATH      TX              RX              DROPS (queue/spoof/not-for-us/malformed)  SEND STALLS'
  ]
  for (const p of s.peers) {
    lines.push([
      `${p.name}${p.self ? '*' : ''}`.padEnd(16),
      p.ipv4.padEnd(16),
      (p.self ? 'self' : p.path).padEnd(9),
      `${bytes(p.txBytes)}/${p.txPackets}p`.padEnd(15),
      `${bytes(p.rxBytes)}/${p.rxPackets}p`.padEnd(15),
      `${p.dropQueueFull}/${p.dropSpoofed}/${p.dropNotForUs}/${p.dropMalformed}`.padEnd(41),
      `${p.sendStalls ?? 0} (${p.sendStalledMs ?? 0} ms)`
    ].join(' '))
  }
  for (const m of s.portMappings) lines.push(`port ${m.protocol}/${m.port} -> ${m.target} (${m.id})`)
  for (const j of s.jobs) lines.push(`job netns ${j.netns} at ${j.address}`)
  return lines.join('\n')
}

export async function vpnUp ({ client, args, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('vpn.up', args.length > 0 ? { peers: args.map(peerId => ({ peerId })) } : {})
  out(r, opts.json === true, formatStatus)
}

export async function vpnAdd ({ client, arg, opts, out }: ActionArgs<JsonOpt & { name?: string, route?: string[] }>): Promise<void> {
  const r = await client.call('vpn.add', { peer: { peerId: arg(0), ...(opts.name != null ? { name: opts.name } : {}), ...(opts.route != null ? { routes: opts.route } : {}) } })
  out(r, opts.json === true, m => `added ${m.name} ${m.peerId}: ${m.ipv4} ${m.ipv6}`)
}

export async function vpnRemove ({ client, arg, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('vpn.remove', { peerId: arg(0) })
  out(r, opts.json === true, () => `removed ${arg(0)}`)
}

export async function vpnDown ({ client, opts, out }: ActionArgs<JsonOpt & { forget?: boolean }>): Promise<void> {
  const r = await client.call('vpn.down', { forget: opts.forget === true })
  out(r, opts.json === true, () => opts.forget === true ? 'VPN down; membership forgotten' : 'VPN down (dmsnet vpn up resumes it)')
}

export async function vpnStatus ({ client, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  out(await client.call('vpn.status'), opts.json === true, formatStatus)
}

export async function vpnPing ({ client, arg, opts, out }: ActionArgs<JsonOpt & { count: string }>): Promise<void> {
  const r = await client.call('vpn.ping', { target: arg(0), count: Number(opts.count) })
  out(r, opts.json === true, v => [...v.rtts.map((t, i) => `reply from ${v.address}: seq=${i + 1} time=${t} ms`), `${v.rtts.length} replies`].join('\n'))
}

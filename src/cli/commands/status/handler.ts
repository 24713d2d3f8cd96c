/**
 * `dmsnet status`: one screen on the running node.
 */
import type { ActionArgs } from '../../context.js'
import { duration, ms, shortId, table } from '../../format.js'
import type { PeerConnectionInfo } from '../../../network/types.js'
import type { NodeStatus } from '../../../control/catalogue/index.js'

export type StatusResult = NodeStatus

/** One line for a module's status object: scalars as key=value, lists by their length. */
function summary (v: unknown): string {
  if (v == null || typeof v !== 'object') return String(v)
  const parts: string[] = []
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(x)) parts.push(`${k}=${x.length}`)
    else if (x == null || typeof x !== 'object') parts.push(`${k}=${String(x)}`)
  }
  return parts.join(' ') || 'running'
}

export function formatStatus (s: StatusResult): string {
  const peers = new Set(s.connections.map(c => c.peerId)).size
  const lines = [
    `peer id:       ${s.peerId}`,
    `version:       ${s.version}   uptime ${duration(s.uptimeMs)}`,
    `profile:       ${s.profile}`,
    `reachability:  ${s.reachability} (NAT tcp ${s.natType.tcp}, udp ${s.natType.udp})`,
    `data dir:      ${s.dataDir}`,
    `listening on:  ${s.listenAddrs.join('\n               ') || '-'}`,
    `announcing:    ${s.announceAddrs.join('\n               ') || '-'}`,
    `metrics:       ${s.metricsUrl ?? 'off'}`,
    `modules:       ${Object.keys(s.modules).length === 0 ? '-' : Object.entries(s.modules).map(([k, v]) => `${k} (${summary(v)})`).join('\n               ')}`,
    `peers:         ${peers} (${s.connections.length} connections)`
  ]
  if (s.connections.length > 0) lines.push('', formatPeers(s.connections))
  return lines.join('\n')
}

export function formatPeers (conns: PeerConnectionInfo[]): string {
  if (conns.length === 0) return 'no connections'
  return table(['PEER', 'DIR', 'TRANSPORT', 'ADDRESS', 'RTT', 'AGE'], conns.map(c => [
    shortId(c.peerId), c.direction === 'inbound' ? 'in' : 'out', c.transport + (c.limited ? ' (relayed)' : ''),
    c.remoteAddr, ms(c.latencyMs), duration(Date.now() - c.openedAt)
  ]))
}

export async function status ({ client, opts, out }: ActionArgs<{ json?: boolean }>): Promise<void> {
  out(await client.call('node.status'), opts.json === true, formatStatus)
}

/**
 * What `dmsnet swarm ...` does: one control call per subcommand, printed as text or JSON.
 */
import type { SwarmStatus } from '../../../swarm/swarm.js'
import type { StaticSwarmStatus } from '../../../swarm/static.js'
import type { ActionArgs } from '../../context.js'

export interface JsonOpt { json?: boolean }

function formatStatic (s: StaticSwarmStatus): string {
  return [
    `static private network (key file ${s.keyFile}, fingerprint ${s.fingerprint})`,
    `profile:    ${s.profile}`,
    `allowed:    ${s.allow.length === 0 ? 'anyone holding the key' : s.allow.map(p => `\n  ${p}${s.connected.includes(p) ? ' (connected)' : ''}`).join('')}`,
    `connected:  ${s.connected.length} peer(s)`
  ].join('\n')
}

export function formatStatus (s: SwarmStatus | StaticSwarmStatus): string {
  if ('mode' in s && s.mode === 'static') return formatStatic(s)
  if (s.name == null) return `not in a swarm (network profile: ${s.profile})`
  const lines = [
    `swarm:      ${s.name} (${s.role}${s.joined ? ', joined' : ', left'})`,
    `epoch:      ${s.epoch ?? '-'}`,
    `profile:    ${s.profile}`,
    `creator:    ${s.creator ?? '-'}`,
    `authorised: ${s.authorised.length}${s.authorised.map(p => `\n  ${p}${s.connected.includes(p) ? ' (connected)' : ''}`).join('')}`
  ]
  if (s.keyService.length > 0) lines.push(`key service: ${s.keyService.join(' ')}`)
  if (s.role === 'creator') lines.push(`invites:    ${s.invites} outstanding`, `refused:    ${s.refused} key requests`)
  return lines.join('\n')
}

export async function swarmCreate ({ client, arg, opts, out }: ActionArgs<JsonOpt & { authorize?: string[] }>): Promise<void> {
  const r = await client.call('swarm.create', { name: arg(0), authorised: opts.authorize ?? [] })
  out(r, opts.json === true, formatStatus)
}

export async function swarmAuthorize ({ client, arg, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('swarm.authorize', { peer: arg(0) })
  out(r, opts.json === true, () => `authorised ${arg(0)}`)
}

export async function swarmRevoke ({ client, arg, opts, out }: ActionArgs<JsonOpt & { rotate: boolean }>): Promise<void> {
  const r = await client.call('swarm.revoke', { peer: arg(0), rotate: opts.rotate })
  out(r, opts.json === true, s => `revoked ${arg(0)}${opts.rotate ? `; key rotated to epoch ${s.epoch}` : ''}`)
}

export async function swarmInvite ({ client, opts, out }: ActionArgs<JsonOpt & { ttl?: string }>): Promise<void> {
  const ttlMs = opts.ttl != null ? Number(opts.ttl) * 1000 : undefined
  const r = await client.call('swarm.invite', ttlMs != null && Number.isFinite(ttlMs) ? { ttlMs } : {})
  out(r, opts.json === true, v => v.token)
}

export async function swarmJoin ({ client, arg, opts, out }: ActionArgs<JsonOpt & { name?: string }>): Promise<void> {
  const r = await client.call('swarm.join', { target: arg(0), ...(opts.name != null ? { name: opts.name } : {}) })
  out(r, opts.json === true, formatStatus)
}

export async function swarmLeave ({ client, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('swarm.leave')
  out(r, opts.json === true, s => `left swarm ${s.name ?? ''}; back on the ${s.profile} network`)
}

export async function swarmRotate ({ client, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('swarm.rotate')
  out(r, opts.json === true, v => `epoch ${v.epoch}: key delivered to ${v.delivered.length} member(s)${v.failed.length > 0 ? `, ${v.failed.length} unreachable (they recover through the key service)` : ''}`)
}

export async function swarmStatus ({ client, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('swarm.status')
  out(r, opts.json === true, formatStatus)
}

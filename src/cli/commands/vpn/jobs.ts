/**
 * What `dmsnet vpn attach|detach|map-port|unmap-port|ports` do: job namespaces and port mappings
 * through the daemon's `vpn.*` control methods (src/daemon/features/vpn-jobs.ts checks the input there).
 */
import { isIP } from 'node:net'
import type { ResultOf } from '../../../control/spec.js'
import type { vpn } from '../../../control/catalogue/index.js'
import type { ActionArgs } from '../../context.js'
import { CliError, EXIT_USAGE } from '../../errors.js'
import { table } from '../../format.js'
import type { JsonOpt } from './handler.js'

type PortsResult = ResultOf<typeof vpn.ports>

/** `tcp/8080`, `udp/53` or `8080` (tcp). */
export function parsePortSpec (s: string): { protocol: 'tcp' | 'udp', port: number } {
  const m = /^(?:(tcp|udp)\/)?(\d{1,5})$/.exec(s.trim().toLowerCase())
  const port = m != null ? Number(m[2]) : NaN
  if (m == null || port < 1 || port > 65535) throw new CliError(`port: got ${JSON.stringify(s)}, expected tcp/<port> or udp/<port> with a port 1-65535, e.g. tcp/8080`, EXIT_USAGE)
  return { protocol: (m[1] ?? 'tcp') as 'tcp' | 'udp', port }
}

/** `10.250.0.2`, `10.250.0.2:80`, `fd00::2`, `[fd00::2]:80`. */
export function parseTarget (s: string): { address: string, port?: number } {
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s) ?? /^([\d.]+)(?::(\d{1,5}))?$/.exec(s) ?? [s, s, undefined]
  const port = m[2] != null ? Number(m[2]) : undefined
  if (isIP(m[1]!) === 0 || (port != null && (port < 1 || port > 65535))) {
    throw new CliError(`target: got ${JSON.stringify(s)}, expected an IP address with an optional port, e.g. 10.250.0.2:80 or [fd00::2]:80`, EXIT_USAGE)
  }
  return { address: m[1]!, ...(port != null ? { port } : {}) }
}

export function formatPorts (r: PortsResult): string {
  const lines = [r.mappings.length === 0
    ? 'no port mappings'
    : table(['ID', 'PORT', 'TARGET'], r.mappings.map(m => [m.id, `${m.protocol}/${m.port}`, m.target]))]
  if (r.jobs.length > 0) lines.push('', table(['NAMESPACE', 'ADDRESS', 'GATEWAY', 'HOST IF'], r.jobs.map(j => [j.netns, j.address, j.gateway, j.hostInterface])))
  return lines.join('\n')
}

export async function vpnAttach ({ client, arg, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('vpn.attach', { netns: arg(0) })
  out(r, opts.json === true, a => `attached ${a.netns}: ${a.address} (gateway ${a.gateway}, host interface ${a.hostInterface})`)
}

export async function vpnDetach ({ client, arg, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('vpn.detach', { netns: arg(0) })
  out(r, opts.json === true, v => `detached ${v.netns}`)
}

export async function vpnMapPort ({ client, arg, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const spec = parsePortSpec(arg(0))
  const to = parseTarget(arg(1))
  const r = await client.call('vpn.map-port', { ...spec, to })
  out(r, opts.json === true, m => `mapped ${m.protocol}/${m.port} -> ${m.target} (id ${m.id})`)
}

export async function vpnUnmapPort ({ client, arg, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  const r = await client.call('vpn.unmap-port', { id: arg(0) })
  out(r, opts.json === true, () => `removed port mapping ${arg(0)}`)
}

export async function vpnPorts ({ client, opts, out }: ActionArgs<JsonOpt>): Promise<void> {
  out(await client.call('vpn.ports'), opts.json === true, formatPorts)
}

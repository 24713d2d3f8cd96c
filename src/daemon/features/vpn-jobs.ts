/**
 * The VPN's job-namespace and port-mapping control methods (`vpn.attach`, `vpn.detach`,
 * `vpn.map-port`, `vpn.unmap-port`, `vpn.ports`, declared in src/control/catalogue/vpn.ts), used by
 * `dmsnet vpn attach|detach|map-port|unmap-port|ports`. Bad input is refused here, before anything
 * is changed on the host, with a named error: a namespace that does not exist, one that is not
 * attached, an unknown mapping id, a port already mapped or already served on this node's VPN address.
 */
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { netnsExists } from '../../netdev/netns.js'
import { checkIp, checkNamespaceName } from '../../netdev/validate.js'
import { VpnNotRunningError } from '../../vpn/errors.js'
import type { MethodRegistry } from '../../control/registry.js'
import { vpn as api, NamespaceNotAttachedError, NamespaceNotFoundError, PortInUseError, PortMappingNotFoundError } from '../../control/catalogue/index.js'
import type { Vpn } from '../../vpn/vpn.js'

/** True when something on this host already listens on `address:port` (DNAT would shadow it). */
async function portTaken (protocol: 'tcp' | 'udp', address: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const done = (taken: boolean, close: (cb: () => void) => void): void => { close(() => { resolve(taken) }) }
    if (protocol === 'tcp') {
      const srv = createServer()
      srv.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code === 'EADDRINUSE') })
      srv.listen({ port, host: address, exclusive: true }, () => { done(false, cb => srv.close(cb)) })
    } else {
      const sock = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', reuseAddr: false })
      sock.once('error', (err: NodeJS.ErrnoException) => { sock.close(); resolve(err.code === 'EADDRINUSE') })
      sock.bind(port, address, () => { done(false, cb => sock.close(cb)) })
    }
  })
}

async function existingNamespace (netns: string): Promise<string> {
  const name = checkNamespaceName(netns)
  if (!await netnsExists(name)) throw new NamespaceNotFoundError(`no network namespace "${name}" on this host (ip netns list)`)
  return name
}

export function registerJobControl (registry: MethodRegistry, vpn: Vpn): Array<() => void> {
  return [
    registry.implement(api.attach, async (p, { signal }) => {
      const name = await existingNamespace(p.netns)
      return await vpn.attachNamespace(name, { signal })
    }),
    registry.implement(api.detach, async (p, { signal }) => {
      const name = checkNamespaceName(p.netns)
      if (!vpn.status().jobs.some(j => j.netns === name)) {
        if (!await netnsExists(name)) throw new NamespaceNotFoundError(`no network namespace "${name}" on this host (ip netns list)`)
        throw new NamespaceNotAttachedError(`namespace "${name}" is not attached to the VPN (dmsnet vpn ports lists the attached ones)`)
      }
      await vpn.detachNamespace(name, { signal })
      return { netns: name, detached: true as const }
    }),
    registry.implement(api.mapPort, async (p, { signal }) => {
      checkIp(p.to.address)
      const st = vpn.status()
      if (st.state !== 'running' || st.ipv4 == null) throw new VpnNotRunningError('the VPN is not running (dmsnet vpn up)')
      const same = st.portMappings.find(m => m.protocol === p.protocol && m.port === p.port)
      if (same != null) throw new PortInUseError(`${p.protocol}/${p.port} is already mapped to ${same.target} (id ${same.id}; dmsnet vpn unmap-port ${same.id})`)
      if (await portTaken(p.protocol, st.ipv4, p.port)) throw new PortInUseError(`${p.protocol}/${p.port} is already in use on ${st.ipv4} by a service on this node`)
      return await vpn.mapPort(p, { signal })
    }),
    registry.implement(api.unmapPort, async (p, { signal }) => {
      if (!vpn.status().portMappings.some(m => m.id === p.id)) throw new PortMappingNotFoundError(`no port mapping with id "${p.id}" (dmsnet vpn ports lists them)`)
      await vpn.unmapPort(p.id, { signal })
      return vpn.status()
    }),
    registry.implement(api.ports, () => {
      const st = vpn.status()
      return { address: st.ipv4 ?? null, mappings: st.portMappings, jobs: st.jobs }
    })
  ]
}

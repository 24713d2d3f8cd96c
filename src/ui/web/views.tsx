/**
 * The page's cards: pure views of control-method results (no fetching here).
 */
import type { NodeEvent, NodeStatus, SwarmStatus, VpnStatus } from './api.js'
import type { PeerConnectionInfo } from '../../network/types.js'
import { bytes, duration, shortId, time } from './format.js'

export function NodeCard ({ node }: { node: NodeStatus }) {
  return (
    <section class='card' data-testid='node'>
      <h2>Node</h2>
      <dl>
        <dt>peer id</dt><dd class='mono' data-testid='peer-id'>{node.peerId}</dd>
        <dt>version</dt><dd>{node.version} · up {duration(node.uptimeMs)}</dd>
        <dt>profile</dt><dd>{node.profile}</dd>
        <dt>reachability</dt><dd>{node.reachability} (NAT tcp {node.natType.tcp}, udp {node.natType.udp})</dd>
        <dt>listening</dt><dd class='mono'>{node.listenAddrs.map(a => <div key={a}>{a}</div>)}</dd>
        <dt>modules</dt><dd>{Object.keys(node.modules).join(', ') || '-'}</dd>
      </dl>
    </section>
  )
}

export function PeersCard ({ conns }: { conns: PeerConnectionInfo[] }) {
  const peers = new Set(conns.map(c => c.peerId))
  return (
    <section class='card' data-testid='peers'>
      <h2>Peers <span class='count' data-testid='peer-count'>{peers.size}</span> <small>{conns.length} connections</small></h2>
      {conns.length === 0
        ? <p class='muted'>no connections</p>
        : (
          <table>
            <thead><tr><th>peer</th><th>dir</th><th>path</th><th>transport</th><th>address</th><th>rtt</th><th>age</th></tr></thead>
            <tbody>
              {conns.map(c => (
                <tr key={`${c.peerId}${c.remoteAddr}${c.openedAt}`} data-peer={c.peerId}>
                  <td class='mono' title={c.peerId}>{shortId(c.peerId)}</td>
                  <td>{c.direction === 'inbound' ? 'in' : 'out'}</td>
                  <td><span class={`tag ${c.limited ? 'relayed' : 'direct'}`}>{c.limited ? 'relayed' : 'direct'}</span></td>
                  <td>{c.transport}</td>
                  <td class='mono'>{c.remoteAddr}</td>
                  <td>{c.latencyMs == null ? '-' : `${c.latencyMs.toFixed(1)} ms`}</td>
                  <td>{duration(Date.now() - c.openedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          )}
    </section>
  )
}

export function SwarmCard ({ swarm }: { swarm: SwarmStatus | undefined }) {
  return (
    <section class='card' data-testid='swarm'>
      <h2>Swarm</h2>
      {swarm == null || !swarm.joined
        ? <p class='muted'>{swarm == null ? 'swarm module off' : `not in a private swarm (profile ${swarm.profile})`}</p>
        : (
          <dl>
            <dt>name</dt><dd>{swarm.name}</dd>
            <dt>role</dt><dd>{swarm.role} · key epoch {swarm.epoch}</dd>
            <dt>creator</dt><dd class='mono'>{swarm.creator != null ? shortId(swarm.creator) : '-'}</dd>
            <dt>members</dt><dd>{swarm.connected.length} connected of {swarm.authorised.length} authorised</dd>
            {swarm.role === 'creator' && <><dt>invites</dt><dd>{swarm.invites} open · {swarm.refused} refused</dd></>}
          </dl>
          )}
    </section>
  )
}

export function VpnCard ({ vpn }: { vpn: VpnStatus | undefined }) {
  const running = vpn != null && vpn.state === 'running'
  return (
    <section class='card' data-testid='vpn'>
      <h2>VPN {vpn != null && <small>{vpn.state}</small>}</h2>
      {!running
        ? <p class='muted'>{vpn == null ? 'VPN module off' : 'no VPN on this node'}</p>
        : (
          <>
            <p>{vpn.interface} · {vpn.ipv4} · {vpn.cidr} · {vpn.isAuthority ? 'authority' : 'member'} · drops: no route {vpn.dropNoRoute}, not member {vpn.dropNotMember}</p>
            <table>
              <thead><tr><th>member</th><th>address</th><th>path</th><th>sent</th><th>received</th><th>drops</th></tr></thead>
              <tbody>
                {vpn.peers.map(p => (
                  <tr key={p.peerId} data-vpn-peer={p.peerId}>
                    <td title={p.peerId}>{p.name}{p.self ? ' (this node)' : ''}</td>
                    <td class='mono'>{p.ipv4}</td>
                    <td>{p.self ? '-' : <span class={`tag ${p.path}`}>{p.path}</span>}</td>
                    <td>{bytes(p.txBytes)} · {p.txPackets} pkts</td>
                    <td>{bytes(p.rxBytes)} · {p.rxPackets} pkts</td>
                    <td title='queue full / spoofed / not for us / malformed'>{p.dropQueueFull + p.dropSpoofed + p.dropNotForUs + p.dropMalformed}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
          )}
    </section>
  )
}

function describe (e: NodeEvent): string {
  const d = (e.detail ?? {}) as Record<string, unknown>
  switch (e.type) {
    case 'peer:connectedness': return `${String(d.connectedness)} ${shortId(String(d.peerId))}`
    case 'peer:identified': return `identified ${shortId(String(d.peerId))} (${String(d.agentVersion ?? '?')})`
    case 'reachability:changed': return `reachability ${String(d.reachability)}`
    case 'host:changed': return `host restarted on profile ${String(d.profile)}`
    default: return JSON.stringify(d).slice(0, 200)
  }
}

export function EventFeed ({ events }: { events: NodeEvent[] }) {
  return (
    <section class='card' data-testid='events'>
      <h2>Events</h2>
      {events.length === 0
        ? <p class='muted'>waiting for events…</p>
        : <ol class='feed'>{events.map((e, i) => <li key={`${e.at}-${i}`}><time>{time(e.at)}</time> <b>{e.type}</b> {describe(e)}</li>)}</ol>}
    </section>
  )
}

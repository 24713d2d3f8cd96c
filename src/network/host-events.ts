/**
 * Translates one libp2p host's events into the `Network`'s typed events (types.ts
 * `NetworkEvents`): own addresses, identify results, NAT observations, connectedness and
 * discovery. `attachHostEvents` returns the function that unwires them when the host is replaced.
 */
import type { NatTypeTracker } from './reachability.js'
import type { DmsnetHost, NetworkEventName, NetworkEvents } from './types.js'
import type { IdentifyResult, PeerId, PeerInfo, PeerUpdate } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface HostEventSink {
  emit: <K extends NetworkEventName>(name: K, detail: NetworkEvents[K]['detail']) => void
  /** The NAT tracker of this host generation. */
  nat: () => NatTypeTracker
  /** Our announce addresses changed: recompute reachability. */
  addressesChanged: (addrs: Multiaddr[]) => void
  disconnected: (peerId: string) => void
}

export function attachHostEvents (host: DmsnetHost, sink: HostEventSink): () => void {
  const onSelf = (_evt: CustomEvent<PeerUpdate>): void => {
    // what we announce (with /p2p/<self>), the same list `status().announceAddrs` shows
    const addrs = host.getMultiaddrs()
    sink.emit('local-addresses:updated', { addresses: addrs.map(a => a.toString()) })
    sink.addressesChanged(addrs)
  }
  const onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const r = evt.detail
    const peerId = r.peerId.toString()
    sink.emit('peer:identified', {
      peerId,
      protocols: [...r.protocols],
      listenAddrs: r.listenAddrs.map(a => a.toString()),
      agentVersion: r.agentVersion
    })
    if (r.observedAddr != null && r.connection?.direction === 'outbound') {
      const changed = sink.nat().observe(peerId, r.observedAddr)
      if (changed != null) sink.emit('nat:type-changed', changed)
    }
  }
  const onConnect = (evt: CustomEvent<PeerId>): void => {
    sink.emit('peer:connectedness', { peerId: evt.detail.toString(), connectedness: 'connected' })
  }
  const onDisconnect = (evt: CustomEvent<PeerId>): void => {
    sink.disconnected(evt.detail.toString())
    sink.emit('peer:connectedness', { peerId: evt.detail.toString(), connectedness: 'not-connected' })
  }
  const onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    sink.emit('peer:discovered', { peerId: evt.detail.id.toString(), addresses: evt.detail.multiaddrs.map(a => a.toString()) })
  }
  host.addEventListener('self:peer:update', onSelf)
  host.addEventListener('peer:identify', onIdentify)
  host.addEventListener('peer:connect', onConnect)
  host.addEventListener('peer:disconnect', onDisconnect)
  host.addEventListener('peer:discovery', onDiscovery)
  return () => {
    host.removeEventListener('self:peer:update', onSelf)
    host.removeEventListener('peer:identify', onIdentify)
    host.removeEventListener('peer:connect', onConnect)
    host.removeEventListener('peer:disconnect', onDisconnect)
    host.removeEventListener('peer:discovery', onDiscovery)
  }
}

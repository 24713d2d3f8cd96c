/**
 * The status page: the node, its peers and connections (direct/relayed), the swarm, the VPN's
 * members with traffic and drops, and a live event feed. It polls the read-only control methods
 * every few seconds and at once after each event, so a peer that leaves disappears within moments.
 */
import { render } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, call, optional, subscribe, type NodeEvent, type NodeStatus, type SwarmStatus, type VpnStatus } from './api.js'
import { EventFeed, NodeCard, PeersCard, SwarmCard, VpnCard } from './views.js'

const POLL_MS = 3000
const MAX_EVENTS = 100

interface Snapshot { node: NodeStatus, swarm?: SwarmStatus, vpn?: VpnStatus, at: number }

function App () {
  const [snap, setSnap] = useState<Snapshot>()
  const [error, setError] = useState<ApiError | Error>()
  const [events, setEvents] = useState<NodeEvent[]>([])
  const [live, setLive] = useState(false)
  const pending = useRef<ReturnType<typeof setTimeout>>()

  const refresh = useCallback(async () => {
    try {
      const [node, swarm, vpn] = await Promise.all([call('node.status'), optional('swarm.status'), optional('vpn.status')])
      setSnap({ node, swarm, vpn, at: Date.now() })
      setError(undefined)
    } catch (err) {
      setError(err as Error)
    }
  }, [])

  useEffect(() => {
    void refresh()
    const timer = setInterval(() => { void refresh() }, POLL_MS)
    const unsubscribe = subscribe(ev => {
      setEvents(list => [ev, ...list].slice(0, MAX_EVENTS))
      // several events arrive together (connect + identify): one refresh for the burst
      clearTimeout(pending.current)
      pending.current = setTimeout(() => { void refresh() }, 150)
    }, isLive => {
      // the server replays its recent events on every (re)connect: start the list afresh
      if (isLive) setEvents([])
      setLive(isLive)
    })
    return () => { clearInterval(timer); unsubscribe() }
  }, [refresh])

  const loggedOut = error instanceof ApiError && error.status === 401
  return (
    <main>
      <header>
        <h1>dmsnet</h1>
        <span class={`live ${live ? 'on' : 'off'}`} data-testid='live'>{live ? 'live' : 'reconnecting…'}</span>
      </header>
      {loggedOut && <p class='banner' data-testid='logged-out'>Your session has ended: run <code>dmsnet ui</code> and open the new link.</p>}
      {error != null && !loggedOut && <p class='banner' data-testid='error'>Cannot reach the node: {error.message}</p>}
      {snap == null
        ? <p data-testid='loading'>loading…</p>
        : (
          <>
            <NodeCard node={snap.node} />
            <PeersCard conns={snap.node.connections} />
            <div class='row'>
              <SwarmCard swarm={snap.swarm} />
              <VpnCard vpn={snap.vpn} />
            </div>
          </>
          )}
      <EventFeed events={events} />
    </main>
  )
}

render(<App />, document.getElementById('app')!)

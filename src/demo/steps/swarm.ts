/**
 * Step 3: a private swarm, when the swarm module runs. n1 creates it and hands every other node
 * a one-time invite; each joins (its libp2p host restarts with the swarm's pre-shared key), then
 * n1 rotates the key and everyone moves to the new epoch. Everything goes through the same
 * control methods the CLI uses (`swarm.create`, `swarm.invite`, `swarm.join`, `swarm.rotate`).
 */
import type { DemoNode } from '../cluster.js'
import type { DemoStep } from './types.js'
import { ensureMesh } from './connectivity.js'

const NAME = 'demo'

interface SwarmStatus { epoch?: number, profile: string, authorised: string[], connected: string[] }

async function call<T> (n: DemoNode, method: string, params: unknown, signal: AbortSignal): Promise<T> {
  const m = n.node.registry.get(method)
  if (m.kind !== 'unary') throw new Error(`${method} is a stream`)
  return await m.handler(n.node.registry.parseParams(m, params), { signal }) as T
}

export const swarm: DemoStep = {
  title: `private swarm "${NAME}": create, invite, join, rotate the key`,
  async run (ctx) {
    const { nodes, print, signal } = ctx
    if (nodes.some(n => !n.node.registry.has('swarm.create'))) {
      print.line('demo', 'swarm module not enabled: step skipped')
      return
    }
    const [creator, ...members] = nodes as [DemoNode, ...DemoNode[]]
    const created = await call<SwarmStatus>(creator, 'swarm.create', { name: NAME }, signal)
    print.line(creator.name, `created swarm "${NAME}" (epoch ${created.epoch ?? '?'}); now on profile ${created.profile}`)
    for (const m of members) {
      const { token } = await call<{ token: string }>(creator, 'swarm.invite', {}, signal)
      print.line(creator.name, `invite for ${m.name}: ${token.slice(0, 28)}…`)
      const t0 = performance.now()
      const st = await call<SwarmStatus>(m, 'swarm.join', { target: token }, signal)
      print.line(m.name, `joined "${NAME}" in ${Math.round(performance.now() - t0)} ms (profile ${st.profile}, epoch ${st.epoch ?? '?'})`)
    }
    const allIn = (): boolean => members.every(m => creator.node.network.isConnected(m.peerId))
    for (let waited = 0; waited < 15_000 && !allIn(); waited += 200) {
      signal.throwIfAborted()
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    const st = await call<SwarmStatus>(creator, 'swarm.status', {}, signal)
    print.line(creator.name, `swarm members: ${st.authorised.map(p => print.peer(p)).join(', ')}; connected: ${st.connected.map(p => print.peer(p)).join(', ') || '-'}`)

    const r = await call<{ epoch: number, delivered: string[], failed: string[] }>(creator, 'swarm.rotate', {}, signal)
    // deliveries complete in any order: print them sorted so the line reads the same every run
    const names = (peers: string[]): string => peers.map(p => print.peer(p)).sort().join(', ')
    print.line(creator.name, `rotated the swarm key to epoch ${r.epoch}: delivered to ${names(r.delivered) || '-'}${r.failed.length > 0 ? `, failed ${names(r.failed)}` : ''}`)
    // members switch hosts a moment after the creator; then every pair must find each other again
    const { connected, pairs } = await ensureMesh(ctx, 15_000)
    print.line('demo', connected === pairs
      ? `all ${nodes.length} nodes connected again inside swarm "${NAME}" on the new key`
      : `after the rotation: ${connected}/${pairs} pairs connected inside swarm "${NAME}"`)
  }
}

/**
 * `Network.dial` makes a dial once more when the remote reset the TCP connection before it was up
 * (peer-lookup.ts dialOnce), and only once. Real nodes on loopback; between them a real TCP
 * relay that resets chosen incoming connections the moment it accepts them (as a peer's old
 * listener does while its host is replaced on the same port during a swarm key switch) and
 * forwards the others to the target node.
 */
import assert from 'node:assert/strict'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { bound } from '../helpers/wait.js'
import { startNode, type TestNode } from './helpers.js'

interface ResettingRelay { port: number, accepted: number, close(): Promise<void> }

/** Listens on 127.0.0.1:0; connection k (from 1) is reset at once when `reset(k)`, else piped to `targetPort`. */
async function resettingRelay (targetPort: number, reset: (k: number) => boolean): Promise<ResettingRelay> {
  const sockets = new Set<Socket>()
  const relay: ResettingRelay = { port: 0, accepted: 0, close: async () => {} }
  const server: Server = createServer((inbound) => {
    const k = ++relay.accepted
    if (reset(k)) { inbound.resetAndDestroy(); return }
    const outbound = createConnection({ host: '127.0.0.1', port: targetPort })
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on('error', () => { inbound.destroy(); outbound.destroy() })
      s.on('close', () => { sockets.delete(s) })
    }
    inbound.pipe(outbound).pipe(inbound)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  relay.port = (server.address() as { port: number }).port
  relay.close = async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
  return relay
}

function tcpPortOf (n: TestNode): number {
  const a = n.net.getMultiaddrs().map(x => x.toString()).find(x => x.startsWith('/ip4/127.0.0.1/tcp/'))
  if (a == null) throw new Error('node has no loopback TCP address')
  return Number(a.split('/')[4])
}

const resetRetries = async (n: TestNode): Promise<number> => (await n.net.status()).dialRetries?.connectResetRetries ?? -1

describe('network: a dial reset before its connection is up is made once more', { timeout: 60_000 }, () => {
  let a: TestNode
  let b: TestNode
  before(async () => { [a, b] = await Promise.all([startNode(), startNode()]) })
  after(async () => { await Promise.allSettled([a.stop(), b.stop()]) })

  it('the first connection reset at accept: the dial succeeds on its second try, counted once', async () => {
    const relay = await resettingRelay(tcpPortOf(b), k => k === 1)
    try {
      const before = await resetRetries(a)
      const conn = await a.net.dial(`/ip4/127.0.0.1/tcp/${relay.port}/p2p/${b.net.peerId.toString()}`, { signal: AbortSignal.timeout(bound(10_000)) })
      assert.equal(conn.remotePeer.toString(), b.net.peerId.toString())
      assert.equal(relay.accepted, 2, 'one reset connection, then the one that carried the dial')
      assert.equal(await resetRetries(a), before + 1)
      await a.net.hangUp(b.net.peerId)
    } finally {
      await relay.close()
    }
  })

  it('every connection reset: DialError after exactly one more try (bounded, not a loop)', async () => {
    const relay = await resettingRelay(tcpPortOf(b), () => true)
    try {
      const before = await resetRetries(a)
      await assert.rejects(a.net.dial(`/ip4/127.0.0.1/tcp/${relay.port}/p2p/${b.net.peerId.toString()}`, { signal: AbortSignal.timeout(bound(10_000)) }), { name: 'DialError' })
      assert.equal(relay.accepted, 2)
      assert.equal(await resetRetries(a), before + 1)
    } finally {
      await relay.close()
    }
  })
})

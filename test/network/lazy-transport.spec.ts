/**
 * WebSockets loads on first use (src/network/lazy-transport.ts, issue 10): a node listening on TCP
 * only has the transport but not its code; dialling a peer's /ws address loads it and connects over
 * WebSockets; listening on /ws at run time works; a node configured with a /ws listen address loads
 * it at start. And the listener's hand-over in isolation: events pass on, a close before the load
 * finished leaves nothing listening; a failed load is tried again by the next use (src/util/once-retry.ts),
 * and a listener closed first never loads the transport.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CreateListenerOptions, Listener, Transport } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { lazyTransport, type LazyTransport } from '../../src/network/lazy-transport.js'
import type { DmsnetHost } from '../../src/network/types.js'
import { startNode } from './helpers.js'

function wsTransport (host: DmsnetHost): LazyTransport {
  const tm = (host as unknown as { components: { transportManager: { getTransports: () => Transport[] } } }).components.transportManager
  const t = tm.getTransports().find(x => x[Symbol.toStringTag] === '@libp2p/websockets')
  return (t as LazyTransport | undefined) ?? assert.fail('no WebSockets transport')
}

test('WebSockets: not loaded by a TCP-only node, loaded by a /ws dial (which connects) or a /ws listen', { timeout: 30_000 }, async (t) => {
  const a = await startNode({ 'network.listen': ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] })
  t.after(async () => { await a.stop() })
  const b = await startNode()
  t.after(async () => { await b.stop() })
  assert.equal(wsTransport(a.net.host).loaded, true, 'a /ws listen address loads it at start')
  assert.equal(wsTransport(b.net.host).loaded, false, 'a TCP-only node has not loaded it')

  const wsAddr = a.net.getMultiaddrs().find(m => m.toString().includes('/ws/')) ?? assert.fail('a has no /ws address')
  const conn = await b.net.dial(wsAddr, { signal: AbortSignal.timeout(10_000) })
  assert.match(conn.remoteAddr.toString(), /\/ws(\/|$)/)
  assert.equal(wsTransport(b.net.host).loaded, true)
  assert.ok(await b.net.ping(a.net.peerId, { signal: AbortSignal.timeout(10_000) }) >= 0)

  const c = await startNode()
  t.after(async () => { await c.stop() })
  const addrs = await c.net.listen(['/ip4/127.0.0.1/tcp/0/ws'])
  assert.ok(addrs.some(x => x.includes('/ws/')), addrs.join(' '))
  assert.equal(wsTransport(c.net.host).loaded, true)
})

class FakeListener extends TypedEventEmitter<{ listening: CustomEvent, error: CustomEvent<Error>, close: CustomEvent }> implements Listener {
  listened: string[] = []
  async listen (ma: ReturnType<typeof multiaddr>): Promise<void> { this.listened.push(ma.toString()); this.safeDispatchEvent('listening') }
  getAddrs (): Array<ReturnType<typeof multiaddr>> { return this.listened.map(a => multiaddr(a)) }
  updateAnnounceAddrs (): void {}
  async close (): Promise<void> { this.safeDispatchEvent('close') }
}

test('lazy listener: events pass on; closed while loading, it never listens', async () => {
  const made: FakeListener[] = []
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const factory = lazyTransport<unknown>({
    tag: 'fake',
    filter: (addrs) => addrs,
    load: async () => {
      await gate
      return () => ({
        createListener: (_o: CreateListenerOptions) => { const l = new FakeListener(); made.push(l); return l }
      }) as unknown as Transport
    }
  })
  const transport = factory({})
  assert.equal(transport[Symbol.toStringTag], 'fake')
  const opts = {} as unknown as CreateListenerOptions

  const l1 = transport.createListener(opts)
  const events: string[] = []
  for (const e of ['listening', 'close'] as const) l1.addEventListener(e, () => { events.push(e) })
  const listening = l1.listen(multiaddr('/ip4/127.0.0.1/tcp/1'))
  assert.equal(transport.loaded, false)
  release()
  await listening
  assert.equal(transport.loaded, true)
  assert.deepEqual(l1.getAddrs().map(String), ['/ip4/127.0.0.1/tcp/1'])
  await l1.close()
  assert.deepEqual(events, ['listening', 'close'])

  // a second listener closed before its listen got the (already loaded) transport: nothing listens
  const l2 = transport.createListener(opts)
  const p = l2.listen(multiaddr('/ip4/127.0.0.1/tcp/2'))
  await l2.close()
  await p
  assert.deepEqual(made[1]?.listened ?? [], [], 'the closed listener never listened')
  assert.deepEqual(l2.getAddrs(), [])
})

test('lazy transport: a failed load is tried again by the next use; a listener closed before listening loads nothing', async () => {
  let loads = 0
  const factory = lazyTransport<unknown>({
    tag: 'flaky',
    filter: (addrs) => addrs,
    load: async () => {
      if (++loads === 1) throw new Error('chunk missing')
      return () => ({ createListener: (_o: CreateListenerOptions) => new FakeListener() }) as unknown as Transport
    }
  })
  const transport = factory({})
  const opts = {} as unknown as CreateListenerOptions
  await assert.rejects(transport.createListener(opts).listen(multiaddr('/ip4/127.0.0.1/tcp/3')), /chunk missing/)
  assert.equal(transport.loaded, false)

  const closed = transport.createListener(opts)
  await closed.close()
  await closed.listen(multiaddr('/ip4/127.0.0.1/tcp/4'))
  assert.equal(loads, 1, 'a closed listener does not load the transport')
  assert.deepEqual(closed.getAddrs(), [])

  const l = transport.createListener(opts)
  await l.listen(multiaddr('/ip4/127.0.0.1/tcp/5'))
  assert.equal(loads, 2)
  assert.equal(transport.loaded, true)
  assert.deepEqual(l.getAddrs().map(String), ['/ip4/127.0.0.1/tcp/5'])
  await l.close()
})

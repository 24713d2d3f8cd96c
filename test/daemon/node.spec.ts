/**
 * createNode in process: real libp2p on loopback, the control socket, module hooks, metrics.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { loadConfig } from '../../src/config/load.js'
import { createNode } from '../../src/daemon/node.js'
import type { ModuleFactory } from '../../src/daemon/module.js'
import { createControlClient } from '../../src/control/client.js'
import { unary } from '../../src/control/spec.js'
import { AlreadyStartedError, UnauthorizedError, SystemError } from '../../src/errors.js'

async function config (t: import('node:test').TestContext, flags: Record<string, unknown> = {}): Promise<ReturnType<typeof loadConfig>> {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-node-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return loadConfig({ flags: { dataDir: dir, 'network.listen': ['/ip4/127.0.0.1/tcp/0'], 'logging.level': 'warn', ...flags } })
}

test('modules start in order, register control methods, stop in reverse; metrics served on loopback', async (t) => {
  const cfg = await config(t, { 'metrics.enabled': true, 'metrics.port': 0 })
  const log: string[] = []
  const mod = (name: string): ModuleFactory => (components) => {
    log.push(`create ${name} (network ${components.network.started ? 'started' : 'stopped'}, before: ${components.getModule('first')?.name ?? '-'})`)
    return {
      name,
      start: async () => { log.push(`start ${name}`) },
      stop: async () => { log.push(`stop ${name}`) },
      registerControl: (registry) => {
        const echo = unary(`${name}.echo`, { description: 'test', params: z.object({ say: z.string() }), result: z.object({ from: z.string(), say: z.string() }) })
        registry.implement(echo, ({ say }) => ({ from: name, say }))
      },
      status: () => ({ name, healthy: true })
    }
  }
  const disabled: ModuleFactory = () => undefined
  const node = createNode(cfg, { modules: [mod('first'), disabled, mod('second')] })
  t.after(async () => { await node.stop() })
  await node.start()

  const client = createControlClient({ socket: cfg.control.socket })
  assert.deepEqual(await client.callUnchecked('second.echo', { say: 'hi' }), { from: 'second', say: 'hi' })
  const status = await client.call('node.status')
  assert.deepEqual(status.modules, { first: { name: 'first', healthy: true }, second: { name: 'second', healthy: true } })
  assert.equal(status.peerId, node.peerId)

  // a second daemon on the same data dir refuses before starting anything, and leaves the first alone
  const second = createNode(cfg, { modules: [] })
  await assert.rejects(second.start(), AlreadyStartedError)
  assert.deepEqual(await client.callUnchecked('second.echo', { say: 'still' }), { from: 'second', say: 'still' })

  // a wrong token is refused by the real daemon
  await assert.rejects(createControlClient({ socket: cfg.control.socket, token: 'x' }).call('node.status'), UnauthorizedError)

  const metricsUrl = node.metricsUrl ?? assert.fail('no metrics url')
  assert.ok(metricsUrl.startsWith('http://127.0.0.1:'))
  const res = await fetch(metricsUrl)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
  const text = await res.text()
  assert.match(text, /^# HELP dmsnet_peers_connected /m)
  assert.match(text, /^dmsnet_peers_connected 0$/m)
  assert.match(text, /^process_cpu_user_seconds_total /m)
  assert.match(text, /^libp2p_/m, 'libp2p metrics in the same registry')
  assert.match(text, /^dmsnet_control_calls_total\{method="node.status",outcome="ok"\} 1$/m)
  assert.match(text, /^dmsnet_control_calls_total\{method="\(other\)",outcome="UnauthorizedError"\} 1$/m)
  assert.equal((await fetch(metricsUrl.replace('/metrics', '/other'))).status, 404)

  await node.stop()
  assert.deepEqual(log, [
    'create first (network started, before: -)', 'start first',
    'create second (network started, before: first)', 'start second',
    'stop second', 'stop first'
  ])
  assert.equal(existsSync(cfg.control.socket), false)
  // the port is closed: the connection is refused, not timed out
  await assert.rejects(fetch(metricsUrl), (e: Error & { cause?: { code?: string } }) => e.name === 'TypeError' && e.cause?.code === 'ECONNREFUSED')
})

test('a module failing to start undoes everything already started', async (t) => {
  const cfg = await config(t)
  const stopped: string[] = []
  const node = createNode(cfg, {
    modules: [
      () => ({ name: 'ok', stop: async () => { stopped.push('ok') } }),
      () => ({ name: 'broken', start: async () => { throw new SystemError('cannot open /dev/net/tun') } })
    ]
  })
  await assert.rejects(node.start(), SystemError)
  assert.deepEqual(stopped, ['ok'])
  assert.equal(existsSync(cfg.control.socket), false)
  await node.stopped
  await node.stop() // idempotent
})

test('two nodes in one process: separate registries, connect and ping through the control API', async (t) => {
  const a = createNode(await config(t, { 'metrics.enabled': true, 'metrics.port': 0 }), { name: 'a', modules: [], setProcessLogLevel: false })
  const b = createNode(await config(t, { 'metrics.enabled': true, 'metrics.port': 0 }), { name: 'b', modules: [], setProcessLogLevel: false })
  t.after(async () => { await a.stop(); await b.stop() })
  await a.start()
  await b.start()
  const ca = createControlClient({ socket: a.config.control.socket })
  const addr = (await b.network.status()).announceAddrs[0]!
  const r = await ca.call('node.connect', { target: addr })
  assert.equal(r.peerId, b.peerId)
  const p = await ca.call('node.ping', { peer: b.peerId, count: 2, intervalMs: 0 })
  assert.equal(p.rtts.length, 2)
  const text = await (await fetch(a.metricsUrl!)).text()
  assert.match(text, /^dmsnet_peers_connected\{node="a"\} 1$/m)
})

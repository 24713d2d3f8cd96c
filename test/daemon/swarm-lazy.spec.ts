/**
 * The swarm plug-in loads its code on demand (src/daemon/features/swarm.ts, issue 10): a plain node
 * has not loaded src/swarm/swarm.ts (seen by a module resolve hook registered before anything of the
 * daemon is imported), still advertises the key protocol and answers `swarm.status` and the gauges
 * as a swarm manager with no state does; an invitation from a real creator (another daemon on
 * loopback) then loads it and the node joins. The stand-in's protocol list and idle status are
 * checked against a real manager's.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { trackResolvedModules } from '../helpers/resolved-modules.js'
import { recordHandles } from '../helpers/handle-recorder.js'

// every module resolved from here on; the daemon's modules are imported below, after this
const resolved = trackResolvedModules()
const loadedSwarmCode = (): string[] => resolved.urls().filter(u => /\/swarm\/swarm\.[jt]s$|\/features\/swarm-impl\.[jt]s$/.test(u))

const { loadConfig } = await import('../../src/config/load.js')
const { createNode } = await import('../../src/daemon/node.js')
const { SWARM_PROTOCOLS, idleSwarmStatus } = await import('../../src/daemon/features/swarm.js')
const { startNode } = await import('../network/helpers.js')
const { waitFor } = await import('../helpers/wait.js')
type SwarmModule = import('../../src/daemon/features/swarm.js').SwarmModule
type DmsnetNode = import('../../src/daemon/node.js').DmsnetNode

const call = async (node: DmsnetNode, method: string, params: unknown = {}): Promise<unknown> =>
  await (node.registry.get(method).handler as (p: unknown, c: { signal: AbortSignal }) => Promise<unknown>)(params, { signal: AbortSignal.timeout(20_000) })

async function plainNode (t: import('node:test').TestContext): Promise<DmsnetNode> {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-swarmlazy-'))
  const cfg = loadConfig({ flags: { dataDir: dir, 'network.listen': ['/ip4/127.0.0.1/tcp/0'], 'logging.level': 'warn', 'ui.enabled': false } })
  const node = createNode(cfg, { control: false })
  // stopped before its directory goes (a swarm writes its state there until it stops)
  t.after(async () => {
    await node.stop()
    await rm(dir, { recursive: true, force: true })
  })
  await node.start()
  return node
}

test('a plain node has not loaded the swarm code, answers as an idle swarm, and loads it to join by invite', { timeout: 60_000 }, async (t) => {
  const node = await plainNode(t)
  const mod = node.module<SwarmModule>('swarm') ?? assert.fail('no swarm module')
  assert.equal(mod.swarm, undefined)
  assert.deepEqual(loadedSwarmCode(), [], 'src/swarm/swarm.ts and swarm-impl are not loaded by a plain node')
  for (const p of Object.keys(SWARM_PROTOCOLS)) assert.ok(node.network.host.getProtocols().includes(p), `${p} advertised before the load`)
  assert.deepEqual(await call(node, 'swarm.status'), idleSwarmStatus('public'))
  assert.match(await node.metrics.metrics(), /^dmsnet_swarm_epoch\S* 0$/m)
  assert.deepEqual(loadedSwarmCode(), [], 'swarm.status and the gauges load nothing')

  // a creator: another daemon, which loads its swarm for `swarm.create`
  const creator = await plainNode(t)
  await call(creator, 'swarm.create', { name: 'lazy', authorised: [] })
  assert.ok(loadedSwarmCode().length > 0)
  const { token } = await call(creator, 'swarm.invite', {}) as { token: string }
  const st = await call(node, 'swarm.join', { target: token }) as { joined: boolean, name: string, epoch: number }
  assert.equal(st.joined, true)
  assert.equal(st.name, 'lazy')
  assert.ok(mod.swarm != null, 'the join loaded the swarm')
  assert.equal(node.network.profile.name, 'swarm:lazy')
  assert.match(await node.metrics.metrics(), new RegExp(`^dmsnet_swarm_epoch\\S* ${st.epoch}$`, 'm'))
  // the stand-in handed over to the loaded swarm: the protocol is registered exactly once
  for (const p of Object.keys(SWARM_PROTOCOLS)) assert.equal(node.network.host.getProtocols().filter(x => x === p).length, 1, p)
})

test('a key-protocol stream to a plain node loads the swarm, which judges it', { timeout: 30_000 }, async (t) => {
  const node = await plainNode(t)
  const mod = node.module<SwarmModule>('swarm') ?? assert.fail('no swarm module')
  assert.equal(mod.swarm, undefined)
  const peer = await startNode()
  t.after(async () => { await peer.stop() })
  await peer.net.dial(node.network.getMultiaddrs()[0]!)
  const stream = await peer.net.dialProtocol(node.peerId, Object.keys(SWARM_PROTOCOLS)[0]!)
  // not a length-prefixed key-protocol message: the swarm counts it and ends the stream
  stream.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]))
  await stream.close().catch(() => {})
  await waitFor(() => {
    const f = mod.swarm?.status().protocolFailures
    return f != null && f.malformed + f.oversized + f.closed + f.timeout >= 1
  }, 15_000, 'the loaded swarm counted the stream')
})

test('SWARM_PROTOCOLS and idleSwarmStatus are what a swarm manager registers and reports', async (t) => {
  const { createSwarmManager } = await import('../../src/swarm/swarm.js')
  const a = await startNode()
  t.after(async () => { await a.stop() })
  const { net, registered } = recordHandles(a.net)
  // the network loaded (or made) its identity there: the manager must run on the same key
  const { loadOrCreateIdentity } = await import('../../src/network/identity.js')
  const { privateKey } = await loadOrCreateIdentity(a.config.network.identityFile)
  const s = await createSwarmManager({ network: net, config: a.config, privateKey })
  await s.start()
  t.after(async () => { await s.stop() })
  assert.deepEqual(registered, SWARM_PROTOCOLS)
  // what the control API sends (JSON: a real manager's unset fields are `undefined`)
  assert.deepEqual(JSON.parse(JSON.stringify(s.status())), idleSwarmStatus(a.net.profile.name))
})

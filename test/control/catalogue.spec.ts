/**
 * The method catalogue is the one contract between the CLI and the daemon:
 * - every declared method is well formed and names only errors of the error catalogue;
 * - a real daemon (createNode with its default plug-ins) serves exactly the declared methods, and
 *   what its read-only methods return matches their declared result schemas;
 * - docs/control-api.json is what the catalogue generates (else: run npm run gen:api);
 * - a renamed method, param or result field fails to compile (the @ts-expect-error lines below
 *   are checked by `npm run typecheck`: if one of them compiled, tsc would fail on it).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../src/config/load.js'
import { controlApi, createControlClient, errorCatalogue, type ControlClient, type MethodRegistry } from '../../src/control/index.js'
import { messaging, vpn } from '../../src/control/catalogue/index.js'
import { controlApiText } from '../../src/control/describe.js'
import { createNode } from '../../src/daemon/node.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, import.meta.url.endsWith('.js') ? '../../..' : '../..')

test('every method is declared once, well formed, with errors from the error catalogue', () => {
  const listed = new Set([...errorCatalogue.values()].map(e => e.cls))
  for (const [name, spec] of Object.entries(controlApi)) {
    assert.equal(spec.name, name)
    assert.match(name, /^[a-z][a-z0-9-]*(\.[a-z][a-zA-Z0-9-]*)+$/)
    assert.ok(spec.description.length > 10, `${name}: a description`)
    for (const e of spec.errors) assert.ok(listed.has(e), `${name} names ${e.name}, which is not in src/control/catalogue/errors.ts`)
  }
})

test('a running daemon serves exactly the methods of the catalogue', async (t: TestContext) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-cat-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const config = loadConfig({ flags: { dataDir: dir, 'network.listen': ['/ip4/127.0.0.1/tcp/0'], 'logging.level': 'warn', 'ui.port': 0 } })
  const node = createNode(config)
  t.after(async () => { await node.stop() })
  await node.start()
  const served = node.registry.list()
  assert.deepEqual(served.map(m => m.name), Object.keys(controlApi).sort())
  for (const m of served) assert.equal(m.kind, controlApi[m.name as keyof typeof controlApi].kind, m.name)

  // what the read-only methods really return over the socket matches their declared result schema
  const client = createControlClient({ socket: config.control.socket })
  const readOnly = ['control.methods', 'node.id', 'node.status', 'node.peers', 'node.dht.status', 'messaging.stats', 'swarm.status', 'vpn.status', 'vpn.ports'] as const
  for (const name of readOnly) {
    const r = controlApi[name].result.safeParse(await client.call(name))
    assert.ok(r.success, `${name}: ${r.error?.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  }
})

test('docs/control-api.json is current (run npm run gen:api after changing a method)', () => {
  const file = join(root, 'docs', 'control-api.json')
  assert.equal(readFileSync(file, 'utf8'), controlApiText(), `${file} differs from the catalogue: run npm run gen:api`)
})

test('names, params and results are checked at compile time', () => {
  // never called: what matters is which lines compile
  const typeChecks = async (client: ControlClient, registry: MethodRegistry): Promise<void> => {
    const sent = await client.call('messaging.send', { peer: 'p', type: 't' })
    const ms: number = sent.ms
    // @ts-expect-error the result has no field `acknowledged`
    void sent.acknowledged
    // @ts-expect-error the param is `peer`, not `peerId`
    await client.call('messaging.send', { peerId: 'p', type: 't' })
    // @ts-expect-error no such method
    await client.call('messaging.sendd', { peer: 'p', type: 't' })
    // @ts-expect-error a streaming method is not called with call()
    await client.call('messaging.subscribe', { topic: 'x' })
    // @ts-expect-error `type` is required
    await client.call('messaging.request', { peer: 'p' })
    for await (const m of client.stream('messaging.subscribe', { topic: 'x' })) void m.payload.length
    // @ts-expect-error a handler must return what the method declares
    registry.implement(messaging.send, () => ({ peer: 'p', type: 't', ms: 1 }))
    // @ts-expect-error the handler's params are the declared ones
    registry.implement(vpn.detach, (p) => ({ netns: p.namespace, detached: true as const }))
    void ms
  }
  assert.equal(typeof typeChecks, 'function')
})

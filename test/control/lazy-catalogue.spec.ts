/**
 * The catalogue's schemas are built on first use (issue 10: every daemon used to build all of
 * them, ~1 MB, at start). A real daemon (createNode: libp2p on loopback TCP, the control socket)
 * that has started builds none; a call builds that method's params schema only (the daemon never
 * builds result schemas: they are types, checked by tsc and by catalogue.spec.ts). Bad params are
 * still refused with the same InvalidArgumentError, naming the field, as before the change (the
 * messages below are main's at 6181485, word for word).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { createControlClient } from '../../src/control/index.js'
import { builtSchemaCount } from '../../src/control/spec.js'
import { createNode } from '../../src/daemon/node.js'
import { InvalidArgumentError } from '../../src/errors.js'

test('a running daemon builds the params schema of the methods it is called with, and nothing else', async (t: TestContext) => {
  assert.equal(builtSchemaCount(), 0, 'importing the catalogue builds no schema')
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-lazycat-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const config = loadConfig({ flags: { dataDir: dir, 'network.listen': ['/ip4/127.0.0.1/tcp/0'], 'logging.level': 'warn', 'ui.port': 0 } })
  const node = createNode(config)
  t.after(async () => { await node.stop() })
  await node.start()
  assert.ok(node.registry.list().length > 30, 'every method is registered')
  assert.equal(builtSchemaCount(), 0, 'registering ~40 methods builds no schema')

  const client = createControlClient({ socket: config.control.socket })
  const refused = async (method: string, params: Record<string, unknown>, message: string): Promise<void> => {
    await assert.rejects(client.call(method as 'node.ping', params as never), (err: Error) => {
      assert.ok(err instanceof InvalidArgumentError, `${method}: ${err.name}`)
      assert.equal(err.message, message)
      return true
    })
  }
  await refused('node.ping', { peer: 'x', count: 0 }, 'node.ping: count: Too small: expected number to be >=1')
  assert.equal(builtSchemaCount(), 1, 'one call, one params schema')
  await refused('node.ping', { count: 1 }, 'node.ping: peer: Invalid input: expected string, received undefined')
  assert.equal(builtSchemaCount(), 1, 'built once, then kept')
  await refused('vpn.map-port', { protocol: 'sctp', port: 80, to: { address: 'a' } }, 'vpn.map-port: protocol: Invalid option: expected one of "tcp"|"udp"')
  await refused('messaging.send', { peer: 'p', type: 't', encoding: 'hex' }, 'messaging.send: encoding: Invalid option: expected one of "utf8"|"base64"')
  assert.equal(builtSchemaCount(), 3)

  // a good call parses its (empty) params too; defaults are still filled in
  const id = await client.call('node.id')
  assert.equal(id.peerId, node.network.peerId.toString())
  assert.equal(builtSchemaCount(), 4)
})

/**
 * The daemon refuses a data directory, or a control socket directory holding the token, that other
 * users may write to (they could swap its identity, state or token); the same node starts once
 * the directory is private again.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { createNode } from '../../src/daemon/node.js'

test('a data dir or socket dir writable by others is refused (UnsafePathError); private, the node starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-dirs-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const dataDir = join(dir, 'data')
  const sockDir = join(dir, 'sock')
  await mkdir(dataDir, { mode: 0o700 })
  await mkdir(sockDir, { mode: 0o700 })
  const cfg = loadConfig({ flags: { dataDir, 'control.socket': join(sockDir, 'control.sock'), 'network.listen': ['/ip4/127.0.0.1/tcp/0'], 'logging.level': 'error' } })

  await chmod(dataDir, 0o777)
  const open = createNode(cfg, { modules: [] })
  await assert.rejects(open.start(), { name: 'UnsafePathError' })
  await open.stop().catch(() => {})
  await chmod(dataDir, 0o700)

  await chmod(sockDir, 0o777)
  const openSock = createNode(cfg, { modules: [] })
  await assert.rejects(openSock.start(), { name: 'UnsafePathError' })
  await openSock.stop().catch(() => {})
  await chmod(sockDir, 0o700)

  const node = createNode(cfg, { modules: [] })
  t.after(async () => { await node.stop() })
  await node.start()
  assert.match(node.peerId, /^12D3KooW/)
})

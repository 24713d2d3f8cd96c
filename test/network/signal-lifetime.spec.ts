/**
 * A signal bounds the call it is passed to, never the host's life: a network started (or switched
 * to another profile) with a signal that aborts afterwards keeps running and answers dials; a
 * signal already aborted refuses the start.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createNetwork } from '../../src/network/network.js'
import { startNode, tempDir, testConfig, waitFor } from './helpers.js'

test('network: aborting the start signal after start (and after a profile switch) leaves the host running', async t => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const net = await createNetwork({ config: testConfig(dir) })
  const ac = new AbortController()
  await net.start({ signal: ac.signal })
  t.after(async () => { await net.stop() })
  ac.abort(new Error('caller gone'))
  const other = await startNode()
  t.after(async () => { await other.stop() })
  assert.equal(net.started, true)
  assert.ok(await other.net.ping(net.getMultiaddrs()[0]!) >= 0)

  const sw = new AbortController()
  await net.switchProfile({ name: 'swarm:t', dhtProtocolPrefix: '/dmsnet-t', bootstrap: [] }, { signal: sw.signal })
  sw.abort(new Error('caller gone'))
  assert.equal(net.started, true)
  assert.equal(net.profile.name, 'swarm:t')
  // the other node may still hold its connection to the replaced host: it reconnects on a retry
  await waitFor(async () => await other.net.ping(net.getMultiaddrs()[0]!).then(() => true, () => false), 10_000, 'a ping to the new host')
})

test('network: a start whose signal is already aborted is refused and leaves nothing running', async t => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const net = await createNetwork({ config: testConfig(dir) })
  await assert.rejects(net.start({ signal: AbortSignal.abort(new Error('no')) }), (err: Error) => err.message === 'no')
  assert.equal(net.started, false)
  // positive control: the same network starts without the aborted signal
  await net.start()
  t.after(async () => { await net.stop() })
  assert.equal(net.started, true)
})

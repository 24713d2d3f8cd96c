/**
 * `dmsnet swarm ...` against two real daemons (subprocesses) on loopback: create, invite, join,
 * status, rotate, revoke (typed refusal reaches the CLI), leave.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { runCli, startDaemon } from '../cli/helpers.js'
import { waitFor } from './helpers.js'
import type { SwarmStatus } from '../../src/swarm/swarm.js'

async function json<T> (args: string[]): Promise<T> {
  const r = await runCli([...args, '--json'])
  assert.equal(r.code, 0, `dmsnet ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

test('dmsnet swarm create/invite/join/status/rotate/revoke/leave on two daemons', { timeout: 180_000 }, async (t) => {
  const a = mkdtempSync(join(tmpdir(), `dmsnet-swarmcli-a-${process.pid}-`))
  const b = mkdtempSync(join(tmpdir(), `dmsnet-swarmcli-b-${process.pid}-`))
  t.after(() => { rmSync(a, { recursive: true, force: true }); rmSync(b, { recursive: true, force: true }) })
  // port 0: each daemon keeps the port it first bound across swarm host switches
  const da = await startDaemon(['--data-dir', a, '--listen', '/ip4/127.0.0.1/tcp/0', '--profile', 'server'])
  t.after(async () => { await da.stop() })
  const db = await startDaemon(['--data-dir', b, '--listen', '/ip4/127.0.0.1/tcp/0', '--profile', 'server'])
  t.after(async () => { await db.stop() })

  const created = await json<SwarmStatus>(['swarm', 'create', 'lab', '-d', a])
  assert.equal(created.role, 'creator')
  assert.equal(created.profile, 'swarm:lab')
  const human = await runCli(['swarm', 'status', '-d', a])
  assert.match(human.stdout, /swarm: +lab \(creator, joined\)/)

  const { token } = await json<{ token: string }>(['swarm', 'invite', '--ttl', '600', '-d', a])
  assert.match(token, /^dmsnet-swarm:/)
  const joined = await json<SwarmStatus>(['swarm', 'join', token, '-d', b])
  assert.equal(joined.role, 'member')
  assert.equal(joined.epoch, 1)
  const idB = (await json<{ peerId: string }>(['id', '-d', b])).peerId
  await waitFor(async () => (await json<SwarmStatus>(['swarm', 'status', '-d', a])).connected.includes(idB), 30_000, 'B connected to A')

  const rot = await json<{ epoch: number, delivered: string[] }>(['swarm', 'rotate', '-d', a])
  assert.equal(rot.epoch, 2)
  assert.deepEqual(rot.delivered, [idB])
  await waitFor(async () => (await json<SwarmStatus>(['swarm', 'status', '-d', b])).epoch === 2, 30_000, 'B on epoch 2')

  await json(['swarm', 'revoke', idB, '-d', a])
  await waitFor(async () => !(await json<SwarmStatus>(['swarm', 'status', '-d', b])).joined, 30_000, 'B told it is revoked')
  const again = await runCli(['swarm', 'join', created.keyService[0]!, '-d', b])
  assert.equal(again.code, 1)
  assert.match(again.stderr, /SwarmUnauthorizedError/)

  const left = await json<SwarmStatus>(['swarm', 'leave', '-d', a])
  assert.equal(left.profile, 'public')
  assert.equal(left.joined, false)
})

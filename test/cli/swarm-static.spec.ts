/**
 * `dmsnet swarm keygen` and a static private network from the command line: the key file is
 * written 0600 and never overwritten without --force; `dmsnet up` with LIBP2P_FORCE_PNET=1 and no
 * key exits 2 naming the problem; with the generated key it starts inside the private network.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSwarmKey } from '../../src/swarm/key-file.js'
import { keyFingerprint } from '../../src/swarm/static.js'
import { runCli, startDaemon } from './helpers.js'

async function tempDir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-cli-pnet-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('swarm keygen writes a 0600 Kubo-format key, refuses to overwrite it unless --force', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'keys', 'swarm.key')
  const first = await runCli(['swarm', 'keygen', '--out', file, '--json'])
  assert.equal(first.code, 0, first.stderr)
  const res = JSON.parse(first.stdout) as { keyFile: string, fingerprint: string }
  assert.equal(res.keyFile, file)
  const text = await readFile(file, 'utf8')
  assert.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
  assert.equal(res.fingerprint, keyFingerprint(parseSwarmKey(text)))
  assert.equal((await stat(file)).mode & 0o777, 0o600)

  const again = await runCli(['swarm', 'keygen', '--out', file])
  assert.equal(again.code, 1)
  assert.match(again.stderr, /already exists; use --force/)
  assert.equal(await readFile(file, 'utf8'), text, 'the existing key was changed')

  const forced = await runCli(['swarm', 'keygen', '--out', file, '--force'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.match(forced.stdout, /keyFile: /)
  const replaced = await readFile(file, 'utf8')
  assert.notEqual(replaced, text)
  assert.equal((await stat(file)).mode & 0o777, 0o600)

  // to stdout, as ipfs-swarm-key-gen does; default location is <data dir>/swarm.key
  const printed = await runCli(['swarm', 'keygen', '--out', '-'])
  assert.equal(printed.code, 0, printed.stderr)
  assert.equal(parseSwarmKey(printed.stdout).byteLength, 32)
  const dflt = await runCli(['swarm', 'keygen', '--data-dir', join(dir, 'data'), '--json'])
  assert.equal(dflt.code, 0, dflt.stderr)
  assert.equal((JSON.parse(dflt.stdout) as { keyFile: string }).keyFile, join(dir, 'data', 'swarm.key'))
})

test('dmsnet up: LIBP2P_FORCE_PNET without a key exits 2; with swarm.keyFile it runs in the private network', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t)
  const data = join(dir, 'data')
  const refused = await runCli(['up', '--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-metrics'], { env: { LIBP2P_FORCE_PNET: '1' } })
  assert.equal(refused.code, 2, refused.stderr)
  assert.match(refused.stderr, /PrivateNetworkRequiredError: LIBP2P_FORCE_PNET is set but no swarm\.keyFile/)

  const key = join(dir, 'swarm.key')
  assert.equal((await runCli(['swarm', 'keygen', '--out', key])).code, 0)
  const bad = await runCli(['up', '--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-metrics'], { env: { DMSNET_SWARM_KEY_FILE: join(dir, 'nope.key') } })
  assert.equal(bad.code, 2, bad.stderr)
  assert.match(bad.stderr, /SwarmKeyFileError: swarm\.keyFile .*nope\.key/)

  // positive control: the same forced start with the key runs, and says where it is
  const daemon = await startDaemon(['--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-metrics'], { env: { LIBP2P_FORCE_PNET: '1', DMSNET_SWARM_KEY_FILE: key } })
  t.after(async () => { await daemon.stop() })
  const st = await runCli(['swarm', 'status', '--data-dir', data, '--json'])
  assert.equal(st.code, 0, st.stderr)
  const status = JSON.parse(st.stdout) as { mode: string, keyFile: string, profile: string }
  assert.equal(status.mode, 'static')
  assert.equal(status.keyFile, key)
  assert.match(status.profile, /^pnet:/)
  const human = await runCli(['swarm', 'status', '--data-dir', data])
  assert.match(human.stdout, /static private network \(key file .*swarm\.key, fingerprint [0-9a-f]{16}\)/)
  const create = await runCli(['swarm', 'create', 'lab', '--data-dir', data])
  assert.equal(create.code, 1)
  assert.match(create.stderr, /SwarmStateError: swarm\.create is for managed swarms/)
})

/**
 * `dmsnet up` re-executes itself in place with the daemon's V8 memory flags (src/cli/commands/up/
 * node-flags.ts, issue 10): same pid (no resident parent), flags on the daemon's own command line,
 * `DMSNET_NODE_FLAGS` replaces them, a flag already given is not doubled, and a list node would
 * refuse is a NodeFlagsError naming the variable before the re-exec (not node's own exit 9).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_DAEMON_NODE_FLAGS, checkNodeFlags, daemonNodeFlags, missingFlags } from '../../src/cli/commands/up/node-flags.js'
import { runCli, startDaemon } from './helpers.js'

const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(s => s !== '')

test('flag list: defaults, DMSNET_NODE_FLAGS, and no flag given twice', () => {
  assert.deepEqual(daemonNodeFlags({}), [...DEFAULT_DAEMON_NODE_FLAGS])
  assert.deepEqual(daemonNodeFlags({ DMSNET_NODE_FLAGS: ' --max-semi-space-size=2  --max-old-space-size=256 ' }), ['--max-semi-space-size=2', '--max-old-space-size=256'])
  assert.deepEqual(daemonNodeFlags({ DMSNET_NODE_FLAGS: '' }), [])
  const flags = ['--max-semi-space-size=1', '--max-old-space-size=256']
  assert.deepEqual(missingFlags(flags, ['--max-semi-space-size=4']), ['--max-old-space-size=256'], 'an explicit node flag wins')
  assert.deepEqual(missingFlags(flags, [], '--max_old_space_size=512'), ['--max-semi-space-size=1'], 'NODE_OPTIONS counts, _ or -')
  assert.deepEqual(missingFlags(flags, ['--enable-source-maps']), flags)
})

test('up runs with the flags in its own process (same pid), and without them when told', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-nodeflags-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const args = ['--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0']
  const env = { DMSNET_UI_ENABLED: 'false' }

  const d = await startDaemon(args, { env: { ...env, DMSNET_NODE_FLAGS: '--max-semi-space-size=1 --max-old-space-size=300' } })
  try {
    // the pid we spawned printed "ready": the re-exec replaced it, nothing stayed behind
    const argv = cmdline(d.child.pid!)
    assert.ok(argv.includes('--max-semi-space-size=1') && argv.includes('--max-old-space-size=300'), argv.join(' '))
    assert.ok(argv.includes('up'), 'the same command line after the flags')
    // compiled (CI, after npm run build): the daemon runs the minified bundle (daemon-entry.ts)
    if (import.meta.url.endsWith('.js')) assert.ok(argv.some(a => a.endsWith('dist/bundle/dmsnet.mjs')), argv.join(' '))
    assert.equal(readFileSync(`/proc/${d.child.pid!}/environ`, 'utf8').split('\0').find(v => v.startsWith('MALLOC_TRIM_THRESHOLD_=')), 'MALLOC_TRIM_THRESHOLD_=131072')
  } finally {
    assert.equal(await d.stop(), 0)
  }

  // positive control for the flag check above: with the list emptied, no flag and still a daemon
  const plain = await startDaemon(args, { env: { ...env, DMSNET_NODE_FLAGS: '' } })
  try {
    const argv = cmdline(plain.child.pid!)
    assert.ok(!argv.some(a => a.startsWith('--max-semi-space-size') || a.startsWith('--max-old-space-size')), argv.join(' '))
  } finally {
    assert.equal(await plain.stop(), 0)
  }
})

test('DMSNET_NODE_FLAGS: a word without --, or a flag that replaces the daemon, is a NodeFlagsError', () => {
  const named = (re: RegExp) => (err: Error): boolean => err.name === 'NodeFlagsError' && /DMSNET_NODE_FLAGS/.test(err.message) && re.test(err.message)
  assert.throws(() => daemonNodeFlags({ DMSNET_NODE_FLAGS: '--v8-pool-size=1 max-old-space-size=256' }), named(/"max-old-space-size=256" is not a node flag/))
  assert.throws(() => daemonNodeFlags({ DMSNET_NODE_FLAGS: '--version' }), named(/something else than run the daemon/))
  assert.throws(() => daemonNodeFlags({ DMSNET_NODE_FLAGS: '--eval=1' }), named(/something else/))
  // positive control: the same kind of list, well formed
  assert.deepEqual(daemonNodeFlags({ DMSNET_NODE_FLAGS: '--v8-pool-size=1 --max-old-space-size=256' }), ['--v8-pool-size=1', '--max-old-space-size=256'])
})

test('DMSNET_NODE_FLAGS: node is asked first; its refusal becomes a NodeFlagsError with its reason', () => {
  assert.throws(() => { checkNodeFlags(['--v8-pool-size=1', '--max-old-space-sise=256']) }, (err: Error) => err.name === 'NodeFlagsError' && /bad option: --max-old-space-sise=256/.test(err.message))
  assert.throws(() => { checkNodeFlags(['--max-old-space-size=lots']) }, (err: Error) => err.name === 'NodeFlagsError' && /illegal value/.test(err.message))
  // positive control: flags node accepts pass, _ or -
  checkNodeFlags(['--v8-pool-size=1', '--max_old_space_size=256', '--optimize-for-size'])
  checkNodeFlags([])
})

test('up with a bad DMSNET_NODE_FLAGS exits 2 naming the variable, not with node\'s exit 9', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-nodeflags-bad-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const r = await runCli(['up', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0'], { env: { DMSNET_UI_ENABLED: 'false', DMSNET_NODE_FLAGS: '--max-old-space-sise=256' }, timeoutMs: 30_000 })
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /DMSNET_NODE_FLAGS: node refuses "--max-old-space-sise=256" \(.*bad option/)
  assert.doesNotMatch(r.stdout, /ready/)
  // the daemon with valid flags starting is the previous test's positive control
})

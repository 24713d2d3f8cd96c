/**
 * Two promises of the docs that had no test trying to break them (docs/security.md, "Audit"):
 * metrics are never served beyond this machine (`metrics.host` must be a loopback address: the
 * wildcard, a LAN address or a name that only looks local are a ConfigError, nothing listens), and
 * `dmsnet init --force` rewrites the config but never replaces an existing identity key.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMetricsRegistry, startMetricsServer } from '../../src/metrics.js'
import { runCli } from '../cli/helpers.js'

test('metrics: a non-loopback metrics.host is a ConfigError naming the key; loopback serves', async (t) => {
  const registry = createMetricsRegistry()
  for (const host of ['0.0.0.0', '::', '10.1.2.3', '192.168.1.1', 'localhost.example.com', '127.0.0.1.nip.io', '::ffff:127.0.0.1']) {
    await assert.rejects(startMetricsServer({ registry, host, port: 0 }), (err: Error & { issues?: Array<{ key: string }> }) =>
      err.name === 'ConfigError' && err.issues?.[0]?.key === 'metrics.host', `host ${host}`)
  }
  // positive control: the loopback address serves the metrics
  const srv = await startMetricsServer({ registry, host: '127.0.0.1', port: 0 })
  t.after(async () => { await srv.stop() })
  const body = await new Promise<string>((resolve, reject) => {
    get(srv.url, (res) => { let s = ''; res.on('data', (d: Buffer) => { s += d.toString() }); res.on('end', () => { resolve(s) }) }).on('error', reject)
  })
  assert.match(body, /# HELP/)
})

test('cli: init --force never replaces an existing identity key', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-sec-init-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const first = await runCli(['init', '--data-dir', dir, '--json'])
  assert.equal(first.code, 0, first.stderr)
  const { peerId } = JSON.parse(first.stdout) as { peerId: string }
  const key = await readFile(join(dir, 'identity.key'))
  const refused = await runCli(['init', '--data-dir', dir])
  assert.notEqual(refused.code, 0, 'without --force an existing config is refused')
  const forced = await runCli(['init', '--data-dir', dir, '--force', '--profile', 'lan', '--json'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal((JSON.parse(forced.stdout) as { peerId: string }).peerId, peerId, 'the same identity')
  assert.deepEqual(await readFile(join(dir, 'identity.key')), key, 'the key file is byte for byte the same')
})

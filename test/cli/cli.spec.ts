/**
 * The `dmsnet` CLI driven as a subprocess against real daemons (real libp2p over loopback TCP).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitForText } from '../helpers/wait.js'
import { runCli, startDaemon, type Daemon } from './helpers.js'

async function tempDir (t: import('node:test').TestContext, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `dmsnet-cli-${name}-`))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('init, up, id, status --json, peers, connect, ping, events, stop', async (t) => {
  const a = await tempDir(t, 'a')
  const b = await tempDir(t, 'b')
  const daemons: Daemon[] = []
  t.after(async () => { for (const d of daemons) await d.stop() })

  const init = await runCli(['init', '--data-dir', a, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
  assert.equal(init.code, 0, init.stderr)
  const initRes = JSON.parse(init.stdout) as { peerId: string, configFile: string }
  assert.match(initRes.peerId, /^12D3KooW/)
  assert.match(await readFile(initRes.configFile, 'utf8'), /# dmsnet node configuration/)
  assert.equal((await stat(a)).mode & 0o777, 0o700)
  assert.equal((await stat(join(a, 'identity.key'))).mode & 0o777, 0o600)
  // init refuses to overwrite
  const again = await runCli(['init', '--data-dir', a])
  assert.notEqual(again.code, 0)
  assert.match(again.stderr, /already exists/)

  const da = await startDaemon(['--data-dir', a])
  daemons.push(da)
  const db = await startDaemon(['--data-dir', b, '--listen', '/ip4/127.0.0.1/tcp/0', '--profile', 'server'])
  daemons.push(db)
  assert.equal((await stat(join(a, 'control.sock'))).mode & 0o777, 0o600)

  const idA = await runCli(['id', '--data-dir', a, '--json'])
  assert.equal(idA.code, 0, idA.stderr)
  const ida = JSON.parse(idA.stdout) as { peerId: string, addresses: string[] }
  assert.equal(ida.peerId, initRes.peerId, 'the daemon uses the identity init created')
  const idB = JSON.parse((await runCli(['id', '-d', b, '--json'])).stdout) as { peerId: string, addresses: string[] }
  assert.notEqual(idB.peerId, ida.peerId)

  const st0 = JSON.parse((await runCli(['status', '--json', '--data-dir', a])).stdout) as { peerId: string, connections: unknown[], started: boolean, dataDir: string }
  assert.equal(st0.peerId, ida.peerId)
  assert.equal(st0.started, true)
  assert.equal(st0.dataDir, a)
  assert.equal(st0.connections.length, 0)

  // follow events on A while B connects
  const { spawn } = await import('node:child_process')
  const { cliEntry } = await import('./helpers.js')
  const ev = spawn(process.execPath, [...cliEntry(), 'events', '--json', '-d', a], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DMSNET_LOG_LEVEL: 'warn' } })
  let evOut = ''
  ev.stdout.on('data', (d: Buffer) => { evOut += d.toString() })
  const evClosed = new Promise<number | null>(resolve => ev.on('close', c => { resolve(c) }))
  // the daemon's first item says its listeners are in place: from here on no event is missed
  await waitForText(() => evOut, '"type":"events:attached"', 30_000, 'dmsnet events to attach')

  const addrA = ida.addresses.find(x => x.includes('/tcp/'))!
  const conn = await runCli(['connect', addrA, '--json', '-d', b])
  assert.equal(conn.code, 0, conn.stderr)
  assert.equal((JSON.parse(conn.stdout) as { peerId: string }).peerId, ida.peerId)

  const peersB = JSON.parse((await runCli(['peers', '--json', '-d', b])).stdout) as Array<{ peerId: string, direction: string, transport: string }>
  assert.ok(peersB.some(p => p.peerId === ida.peerId && p.direction === 'outbound' && p.transport === 'tcp'), JSON.stringify(peersB))
  const human = await runCli(['peers', '-d', a])
  assert.equal(human.code, 0)
  assert.match(human.stdout, /PEER\s+DIR\s+TRANSPORT/)
  assert.match(human.stdout, /\bin\b/)

  const ping = await runCli(['ping', idB.peerId, '-c', '3', '-i', '10', '--json', '-d', a])
  assert.equal(ping.code, 0, ping.stderr)
  const pr = JSON.parse(ping.stdout) as { rtts: number[] }
  assert.equal(pr.rtts.length, 3)
  for (const r of pr.rtts) assert.ok(r >= 0 && r < 10_000)
  const pingText = await runCli(['ping', idB.peerId, '-c', '2', '-d', a])
  assert.match(pingText.stdout, /pong from 12D3KooW.*seq=1/)

  await waitForText(() => evOut, new RegExp(`"peer:connectedness".*"peerId":"${idB.peerId}"`), 15_000, 'the connectedness event for B')
  ev.kill('SIGINT')
  assert.equal(await evClosed, 0)
  const events = evOut.trim().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { type: string, detail: { peerId?: string, connectedness?: string } })
  assert.equal(events[0]?.type, 'events:attached')
  assert.equal(events[0]?.detail.peerId, ida.peerId)
  assert.ok(events.some(e => e.type === 'peer:connectedness' && e.detail.peerId === idB.peerId && e.detail.connectedness === 'connected'), evOut)

  // unknown peer: a typed error, non-zero exit, daemon keeps running
  const bad = await runCli(['ping', 'not-a-peer', '-d', a])
  assert.notEqual(bad.code, 0)
  assert.match(bad.stderr, /^dmsnet: \w+Error: /)

  // graceful stop through the control API: socket removed, exit 0
  const stop = await runCli(['stop', '-d', b])
  assert.equal(stop.code, 0, stop.stderr)
  assert.equal(await db.exited, 0)
  assert.equal(existsSync(join(b, 'control.sock')), false)
  // SIGINT path
  assert.equal(await da.stop(), 0)
  assert.match(da.stdout(), /dmsnet: stopped/)
  assert.equal(existsSync(join(a, 'control.sock')), false)
  assert.equal(existsSync(join(a, 'control.token')), false)
})

test('no daemon: one-line error, exit code 3', async (t) => {
  const dir = await tempDir(t, 'none')
  for (const cmd of [['status'], ['peers', '--json'], ['ping', '12D3KooWPnwWfYwgvvxmfqQurZbVzWY6A9t3ySyAG3x2Yeb4GhJF']]) {
    const r = await runCli([...cmd, '--data-dir', dir])
    assert.equal(r.code, 3, r.stderr)
    assert.equal(r.stderr.trim().split('\n').length, 1)
    assert.match(r.stderr, /daemon is not running/)
  }
})

test('bad flags and bad config: ConfigError text naming the key, exit 2, nothing started', async (t) => {
  const dir = await tempDir(t, 'bad')
  const r1 = await runCli(['up', '--data-dir', dir, '--listen', '/ip4/1.2.3.4/nope'])
  assert.equal(r1.code, 2)
  assert.match(r1.stderr, /network\.listen\.0: got "\/ip4\/1\.2\.3\.4\/nope", expected a multiaddr/)
  const r2 = await runCli(['up', '--data-dir', dir, '--log-level', 'loud'])
  assert.equal(r2.code, 2)
  assert.match(r2.stderr, /logging\.level: got "loud", expected one of/)
  const r3 = await runCli(['up', '--data-dir', dir, '--no-such-flag'])
  assert.equal(r3.code, 2)
  assert.match(r3.stderr, /unknown option '--no-such-flag'/)
  const r4 = await runCli(['up', '--data-dir', dir, '--metrics-port', 'abc'])
  assert.equal(r4.code, 2)
  assert.match(r4.stderr, /metrics\.port: got "abc"/)

  const file = join(dir, 'config.yaml')
  await writeFile(file, 'network:\n  lisen: []\nmetrics:\n  port: 99999\n')
  const r5 = await runCli(['up', '--data-dir', dir])
  assert.equal(r5.code, 2)
  assert.match(r5.stderr, /network\.lisen: got \[\], expected no such setting/)
  assert.match(r5.stderr, /metrics\.port: got 99999, expected a port number/)
  const json = join(dir, 'other.json')
  await writeFile(json, '{ not json')
  const r6 = await runCli(['up', '--config', json, '--data-dir', dir])
  assert.equal(r6.code, 2)
  assert.match(r6.stderr, /cannot parse config file/)
  const dir2 = await tempDir(t, 'bad2')
  const r7 = await runCli(['up', '--data-dir', dir2], { env: { DMSNET_METRICS_HOST: '0.0.0.0', DMSNET_METRICS_ENABLED: 'true' } })
  assert.equal(r7.code, 2, r7.stderr)
  assert.match(r7.stderr, /metrics\.host/)
  // nothing was started: no socket, no identity
  for (const d of [dir, dir2]) {
    assert.equal(existsSync(join(d, 'control.sock')), false)
    assert.equal(existsSync(join(d, 'identity.key')), false)
  }
})

test('--help everywhere, --version', async () => {
  for (const cmd of [[], ['up'], ['status'], ['ping'], ['connect'], ['init'], ['call']]) {
    const r = await runCli([...cmd, '--help'])
    assert.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`)
    assert.match(r.stdout, /Usage: dmsnet/)
  }
  const v = await runCli(['--version'])
  assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+/)
})

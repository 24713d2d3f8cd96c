// `dmsnet vpn ...` end to end: two real daemons (`dmsnet up`), each in its own network namespace,
// driven through the CLI and the control API: up, status (path, bytes), ping, remove, down.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { requireRoot } from '../helpers/root.js'
import { cliEntry, runCli } from '../cli/helpers.js'
import { createVpnWorld, type VpnNodeProc } from './vpn-harness.js'
import type { VpnStatus } from '../../src/vpn/types.js'
import { pause } from '../helpers/wait.js'

async function startDaemonIn (n: VpnNodeProc, env: Record<string, string> = {}): Promise<() => Promise<void>> {
  const child = spawn('ip', ['netns', 'exec', n.ns, process.execPath, ...cliEntry(), '--data-dir', n.dataDir, 'up', '--listen', `/ip4/${n.underlayIp}/tcp/4001`, '--no-metrics'], {
    env: { ...process.env, DMSNET_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<void>(resolve => child.on('close', () => { resolve() }))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`daemon in ${n.ns} not ready: ${err.slice(-2000)}`)) }, 60_000)
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('dmsnet: ready')) { clearTimeout(timer); resolve() } })
    void exited.then(() => { clearTimeout(timer); reject(new Error(`daemon in ${n.ns} exited: ${err.slice(-2000)}`)) })
  })
  return async () => {
    child.kill('SIGINT')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 15_000)
    await exited
    clearTimeout(timer)
  }
}

async function cli<T> (n: VpnNodeProc, args: string[]): Promise<T> {
  const r = await runCli(['--data-dir', n.dataDir, ...args, '--json'], { timeoutMs: 60_000 })
  if (r.code !== 0) throw new Error(`dmsnet ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

test('dmsnet vpn up/status/ping/remove/down through two daemons', { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return
  const world = await createVpnWorld(t, ['a', 'b'], { spawn: false })
  const stops: Array<() => Promise<void>> = []
  t.after(async () => {
    for (const s of stops) await s()
    await world.cleanup()
  })
  const [a, b] = world.nodes as [VpnNodeProc, VpnNodeProc]
  stops.push(await startDaemonIn(a))
  const idA = (await cli<{ peerId: string }>(a, ['id'])).peerId
  // b takes VPN invitations from a only (the default trusts nobody on the public network)
  stops.push(await startDaemonIn(b, { DMSNET_VPN_ACCEPT_INVITES_FROM: idA }))
  const idB = (await cli<{ peerId: string }>(b, ['id'])).peerId
  await cli(a, ['connect', `/ip4/${b.underlayIp}/tcp/4001/p2p/${idB}`])

  const up = await cli<VpnStatus>(a, ['vpn', 'up', idB])
  assert.equal(up.state, 'running')
  assert.equal(up.isAuthority, true)
  assert.equal(up.peers.length, 2)
  const ipB = up.peers.find(p => p.peerId === idB)!.ipv4

  let bs: VpnStatus | undefined
  for (let i = 0; i < 50 && bs?.state !== 'running'; i++) {
    bs = await cli<VpnStatus>(b, ['vpn', 'status'])
    if (bs.state !== 'running') await pause(200) // polling interval of a bounded wait for a condition
  }
  assert.equal(bs?.state, 'running')
  assert.equal(bs?.ipv4, ipB)

  // only the authority may change membership: a member gets a typed error and a non-zero exit
  const refused = await runCli(['--data-dir', b.dataDir, 'vpn', 'remove', up.peers.find(p => p.self)!.peerId])
  assert.notEqual(refused.code, 0)
  assert.match(refused.stderr, /NotAuthorityError/)

  const ping = await cli<{ address: string, rtts: number[] }>(a, ['vpn', 'ping', idB, '-c', '3'])
  assert.equal(ping.address, ipB)
  assert.ok(ping.rtts.length >= 1)

  const human = await runCli(['--data-dir', a.dataDir, 'vpn', 'status'])
  assert.equal(human.code, 0)
  assert.match(human.stdout, /direct/)
  // the device's own counters: the pings went through it, and nothing was refused or dropped
  assert.match(human.stdout, /^tun: +rx [\d.]+ \w*B\/[1-9]\d*p, tx [\d.]+ \w*B\/[1-9]\d*p;.*no errors or drops$/m)
  const st = await cli<VpnStatus>(a, ['vpn', 'status'])
  const peer = st.peers.find(p => p.peerId === idB)!
  assert.equal(peer.path, 'direct')
  assert.ok(peer.txBytes > 0 && peer.rxBytes > 0)

  const removed = await cli<VpnStatus>(a, ['vpn', 'remove', idB])
  assert.equal(removed.peers.length, 1)
  const down = await cli<VpnStatus>(a, ['vpn', 'down', '--forget'])
  assert.equal(down.state, 'idle')
  assert.equal((await world.net.status(a.ns, 'ip', ['link', 'show', 'dmsnet0'])).code !== 0, true, 'device removed')

  // the other way round: a's daemon trusts nobody (no vpn.acceptInvitesFrom, no swarm), so b's
  // invitation is refused and a gets no device; `vpn up` returns after the push was answered
  const byB = await cli<VpnStatus>(b, ['vpn', 'up', idA])
  assert.equal(byB.isAuthority, true)
  assert.notEqual((await cli<VpnStatus>(a, ['vpn', 'status'])).state, 'running', 'a refused b\'s invitation')
  assert.equal((await world.net.status(a.ns, 'ip', ['link', 'show', 'dmsnet0'])).code !== 0, true, 'a has no VPN device')
  await cli(b, ['vpn', 'down', '--forget'])
})

/**
 * The messaging CLI commands (send, request, publish, subscribe, job publish/serve) driven as
 * subprocesses against three real daemons on loopback TCP.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { cliEntry, runCli, startDaemon, type Daemon } from '../cli/helpers.js'
import { pause } from '../helpers/wait.js'

const ENV = { DMSNET_NETWORK_AUTONAT_ENABLED: 'false', DMSNET_NETWORK_DCUTR_ENABLED: 'false', DMSNET_NETWORK_RELAY_CLIENT: 'false', DMSNET_NETWORK_MDNS_ENABLED: 'false' }

/** A long-running CLI command whose stdout lines we watch. */
function follow (args: string[]): { lines: string[], waitLines: (n: number, ms?: number) => Promise<void>, stop: () => Promise<void> } {
  const child = spawn(process.execPath, [...cliEntry(), ...args], { env: { ...process.env, ...ENV, DMSNET_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let buf = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString()
    const parts = buf.split('\n')
    buf = parts.pop() ?? ''
    lines.push(...parts.filter(l => l.length > 0))
  })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<void>(resolve => child.on('close', () => { resolve() }))
  return {
    lines,
    waitLines: async (n, ms = 20_000) => {
      const end = Date.now() + ms
      while (lines.length < n) {
        if (Date.now() > end) throw new Error(`wanted ${n} lines from ${args.join(' ')}, got ${JSON.stringify(lines)}; stderr: ${err}`)
        await pause(50) // polling interval of a bounded wait for a condition
      }
    },
    stop: async () => {
      if (child.exitCode == null) child.kill('SIGINT')
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    }
  }
}

test('dmsnet send / request / publish / subscribe / job against real daemons', async (t) => {
  const dirs: string[] = []
  const daemons: Daemon[] = []
  const followers: Array<{ stop: () => Promise<void> }> = []
  t.after(async () => {
    for (const f of followers) await f.stop()
    for (const d of daemons) await d.stop()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })
  const ids: string[] = []
  const addrs: string[] = []
  for (const name of ['a', 'b', 'c']) {
    const dir = await mkdtemp(join(tmpdir(), `dmsnet-msgcli-${name}-`))
    dirs.push(dir)
    daemons.push(await startDaemon(['--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--profile', 'server', '--no-metrics'], { env: ENV }))
    const id = JSON.parse((await runCli(['id', '--json', '-d', dir], { env: ENV })).stdout) as { peerId: string, addresses: string[] }
    ids.push(id.peerId)
    addrs.push(id.addresses.find(x => x.includes('127.0.0.1'))!)
  }
  const [a, b, c] = dirs as [string, string, string]
  for (const dir of [b, c]) {
    const r = await runCli(['connect', addrs[0]!, '-d', dir], { env: ENV })
    assert.equal(r.code, 0, r.stderr)
  }
  const rc = await runCli(['connect', addrs[2]!, '-d', b], { env: ENV })
  assert.equal(rc.code, 0, rc.stderr)

  // request/response with the built-in echo handler
  const req = await runCli(['request', ids[1]!, 'dmsnet.echo', 'hello there', '-d', a], { env: ENV })
  assert.equal(req.code, 0, req.stderr)
  assert.equal(req.stdout.trim(), 'hello there')
  const sent = await runCli(['send', ids[1]!, 'dmsnet.echo', 'x', '--json', '-d', a], { env: ENV })
  assert.equal(sent.code, 0, sent.stderr)
  assert.equal((JSON.parse(sent.stdout) as { acked: boolean }).acked, true)
  // no handler at the remote: a named error and exit code 1
  const nh = await runCli(['send', ids[1]!, 'no.such.type', 'x', '-d', a], { env: ENV })
  assert.equal(nh.code, 1)
  assert.match(nh.stderr, /NoHandlerError/)

  // subscribe on b and c, publish from a
  const subB = follow(['subscribe', '/cli/topic', '--json', '-d', b])
  const subC = follow(['subscribe', '/cli/topic', '--json', '-d', c])
  followers.push(subB, subC)
  // gossip needs the subscriptions to propagate: publish until both have one line (bounded)
  for (let i = 0; i < 40 && (subB.lines.length === 0 || subC.lines.length === 0); i++) {
    const p = await runCli(['publish', '/cli/topic', `msg-${i}`, '-d', a], { env: ENV })
    assert.equal(p.code, 0, p.stderr)
    await pause(250) // pacing between publishes: each one is a retry until the subscriptions have propagated
  }
  await subB.waitLines(1)
  await subC.waitLines(1)
  const mB = JSON.parse(subB.lines.at(-1)!) as { from: string, payload: string, topic: string }
  assert.equal(mB.from, ids[0])
  assert.equal(mB.topic, '/cli/topic')
  assert.match(mB.payload, /^msg-\d+$/)

  // job: b and c serve bids, a publishes a job and gets 2 bids
  const serveB = follow(['job', 'serve', '--price', '7', '-d', b])
  const serveC = follow(['job', 'serve', '--price', '9', '-d', c])
  followers.push(serveB, serveC)
  let bids: Array<{ bid: { bidder: string, price: number } }> = []
  for (let i = 0; i < 10 && bids.length < 2; i++) {
    const job = await runCli(['job', 'publish', '--cpu', '1', '--deadline', '3000', '--max-bids', '2', '--json', '-d', a], { env: ENV, timeoutMs: 30_000 })
    assert.equal(job.code, 0, job.stderr)
    const lines = job.stdout.trim().split('\n').map(l => JSON.parse(l) as { event: string, bid: { bidder: string, price: number } })
    assert.equal(lines.at(-1)!.event, 'done')
    bids = lines.filter(l => l.event === 'bid')
  }
  assert.deepEqual(bids.map(x => [x.bid.bidder, x.bid.price]).sort(), [[ids[1], 7], [ids[2], 9]].sort())
  await serveB.waitLines(1)
})

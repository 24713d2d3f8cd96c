// VPN over a relayed connection: a and b have no route to each other, only to a relay r (two
// separate links); the tunnel runs over circuit-relay v2 (a limited connection) and carries pings
// and a TCP transfer; status reports the path as relayed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireRoot } from '../helpers/root.js'
import { netnsFixture } from '../helpers/netns.js'
import { spawnNode, tcpTransfer, type VpnNodeProc } from './vpn-harness.js'
import type { VpnStatus } from '../../src/vpn/types.js'
import { pause } from '../helpers/wait.js'

test('vpn over a circuit relay', { timeout: 180_000 }, async (t) => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t, 'dr')
  const nodes: VpnNodeProc[] = []
  const dirs: string[] = []
  t.after(async () => {
    for (const n of nodes) await n.stop()
    await net.cleanup()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const sub = 10 + (process.pid % 200)
  const nsA = await net.namespace('a')
  const nsB = await net.namespace('b')
  const nsR = await net.namespace('r')
  await net.link(nsA, `10.${sub}.1.1/24`, nsR, `10.${sub}.1.2/24`)
  await net.link(nsB, `10.${sub}.2.1/24`, nsR, `10.${sub}.2.2/24`)
  const mk = (label: string, ns: string, ip: string, args: string[]): VpnNodeProc => {
    const dir = mkdtempSync(join(tmpdir(), `dmsnet-vpnr-${label}-`))
    dirs.push(dir)
    const n = spawnNode(label, ns, ip, dir, args)
    nodes.push(n)
    return n
  }
  const r = mk('r', nsR, '0.0.0.0', ['--relay-server'])
  const a = mk('a', nsA, `10.${sub}.1.1`, ['--relay-client'])
  const b = mk('b', nsB, `10.${sub}.2.1`, ['--relay-client'])
  await Promise.all(nodes.map(async n => { await n.restart() }))
  await a.call('dial', { addr: `/ip4/10.${sub}.1.2/tcp/4001/p2p/${r.peerId}` })
  await b.call('dial', { addr: `/ip4/10.${sub}.2.2/tcp/4001/p2p/${r.peerId}` })
  // wait for both relay reservations
  const circuitOf = async (n: VpnNodeProc): Promise<string[]> => {
    for (let i = 0; i < 100; i++) {
      const addrs = (await n.call<string[]>('addrs')).filter(x => x.includes('/p2p-circuit'))
      if (addrs.length > 0) return addrs
      await pause(200) // polling interval of a bounded wait for a condition
    }
    throw new Error(`${n.label} got no relay reservation`)
  }
  const circA = await circuitOf(a)
  const circB = await circuitOf(b)
  assert.ok(circA.length > 0 && circB.length > 0)

  const st = await a.call<VpnStatus>('start', { peers: [{ peerId: b.peerId, name: 'b', addrs: circB }] })
  const ipB = st.peers.find(p => p.peerId === b.peerId)!.ipv4
  const ipA = st.ipv4!
  await a.call('waitLink', { peerId: b.peerId, timeoutMs: 30_000 })
  await b.call('waitLink', { peerId: a.peerId, timeoutMs: 30_000 })
  const r1 = await net.status(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '3', ipB], { timeoutMs: 20_000 })
  assert.equal(r1.code, 0, r1.stdout)
  const r2 = await net.status(b.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '3', ipA], { timeoutMs: 20_000 })
  assert.equal(r2.code, 0, r2.stdout)
  const xfer = await tcpTransfer(a.ns, b.ns, ipB, 16 * 1024 * 1024)
  assert.equal(xfer.received.sha256, xfer.sent.sha256)
  const s = await a.call<VpnStatus>('status')
  assert.equal(s.peers.find(p => p.peerId === b.peerId)!.path, 'relayed')
})

/**
 * The demo's VPN step. As root: three real daemons in namespaces of the demo's own, a VPN between
 * them, pings all-to-all at the VPN addresses and a name through the VPN's DNS; afterwards (end of
 * --duration, or Ctrl-C in the middle of the setup) no namespace, daemon or data dir is left.
 * A step that fails is reported and cleaned up, and the demo carries on. Without root the step
 * must say why it is skipped and the demo must carry on.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { CLUSTER_DIR_PREFIX } from '../../src/demo/cluster.js'
import { sweepLeftovers } from '../../src/demo/vpn-world.js'
import { isRoot, requireRoot } from '../helpers/root.js'
import { waitFor } from '../helpers/wait.js'
import { daemonsOf, leftoversCleanup, namespacesOf, runDemo } from './run-demo.js'

test('demo as root: VPN between daemons in their own namespaces, pings all-to-all, nothing left after', { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return
  const demo = runDemo(['--duration', '2', '--status-interval', '60'])
  leftoversCleanup(t, demo)
  assert.equal(await demo.exited, 0, demo.err())
  const out = demo.out()
  const pid = demo.child.pid!

  const addr: Record<string, string> = {}
  for (const name of ['a', 'b', 'c']) {
    const m = out.match(new RegExp(`\\n\\S+ +${name} +VPN address (100\\.\\d+\\.\\d+\\.\\d+) fd64:\\S+ on dmsnet0`))
    assert.ok(m != null, `VPN address of ${name} in:\n${out}`)
    addr[name] = m[1]!
  }
  assert.equal(new Set(Object.values(addr)).size, 3, 'three distinct VPN addresses')
  for (const from of ['a', 'b', 'c']) {
    for (const to of ['a', 'b', 'c']) {
      if (from === to) continue
      // the ping went to that node's own VPN address and every echo was answered
      assert.match(out, new RegExp(`vpn +${from} -> ${to} ${addr[to]!.replace(/\./g, '\\.')} ok, 3/3 replies, rtt min/avg/max [\\d.]+/[\\d.]+/[\\d.]+ ms`), `${from} -> ${to}:\n${out}`)
    }
  }
  assert.match(out, /vpn +all 6 pairs answered pings over the VPN/)
  assert.match(out, new RegExp(`vpn +a asked the VPN DNS on b \\(${addr.b!.replace(/\./g, '\\.')}\\) for c\\.dmsnet: ${addr.c!.replace(/\./g, '\\.')} ok`))
  assert.match(out, new RegExp(`namespaces dmsdemo-${pid}-a, dmsdemo-${pid}-b, dmsdemo-${pid}-c`))

  // after the demo ended by itself: daemons stopped, namespaces and data dirs gone
  assert.match(out, /vpn +stopped the VPN daemons; deleted namespaces/)
  assert.match(out, /stopped; removed /)
  const [, daemonDir] = out.match(/--data-dir (\S+) vpn status/) ?? []
  assert.ok(daemonDir != null)
  assert.equal(existsSync(daemonDir), false, 'daemon data dir removed')
  assert.deepEqual(namespacesOf(pid), [], 'no dmsdemo- namespace left')
  assert.deepEqual(daemonsOf(pid), [], 'no daemon left running')
})

test('demo as root: Ctrl-C in the middle of the VPN setup still removes daemons and namespaces', { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return
  const demo = runDemo(['--status-interval', '60'])
  leftoversCleanup(t, demo)
  const pid = demo.child.pid!
  await demo.waitFor(/\n\S+ +a +daemon up in dmsdemo-/, 180_000)
  assert.ok(namespacesOf(pid).length >= 4, 'the setup is under way')
  assert.ok(daemonsOf(pid).length >= 1, 'daemon a runs')
  demo.child.kill('SIGINT')
  assert.equal(await demo.exited, 0, demo.err())
  assert.match(demo.out(), /SIGINT: shutting down/)
  assert.doesNotMatch(demo.out(), /vpn +all 6 pairs/)
  assert.deepEqual(namespacesOf(pid), [], 'no dmsdemo- namespace left')
  assert.deepEqual(daemonsOf(pid), [], 'no daemon left running')
  assert.deepEqual(readdirSync(tmpdir()).filter(d => d.startsWith(`dmsdemo-${pid}-`)), [], 'no daemon data dir left')
})

test('demo as root: killed with SIGKILL, its daemons still stop; the next demo sweeps its namespaces', { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return
  const demo = runDemo(['--status-interval', '60'])
  leftoversCleanup(t, demo)
  const pid = demo.child.pid!
  await demo.waitFor(/\n\S+ +c +daemon up in dmsdemo-/, 180_000)
  assert.ok(daemonsOf(pid).length >= 2, 'daemons run')
  demo.child.kill('SIGKILL')
  await demo.exited
  // no cleanup ran, but the daemons got SIGTERM from the kernel when their parent died
  await waitFor(() => daemonsOf(pid).length === 0, 15_000, 'the daemons to stop with the demo')
  assert.ok(namespacesOf(pid).length >= 4, 'the namespaces are still there')
  const clusterDirs = (): string[] => readdirSync(tmpdir()).filter(d => d.startsWith(`${CLUSTER_DIR_PREFIX}${pid}-`))
  assert.equal(clusterDirs().length, 1, 'the killed demo left its cluster data dir')
  const swept = await sweepLeftovers()
  for (const l of ['hub', 'a', 'b', 'c']) assert.ok(swept.includes(`dmsdemo-${pid}-${l}`), `swept ${l}: ${swept.join(', ')}`)
  assert.deepEqual(namespacesOf(pid), [])
  assert.deepEqual(readdirSync(tmpdir()).filter(d => d.startsWith(`dmsdemo-${pid}-`)), [], 'daemon data dirs swept')
  assert.deepEqual(clusterDirs(), [], 'the cluster data dir swept')
})

test('demo as root: a VPN step that fails is reported, cleaned up, and the demo goes on', { timeout: 240_000 }, async (t) => {
  if (!requireRoot(t)) return
  // the daemons read DMSNET_* from the environment (the demo's own nodes do not): a bad value
  // makes "dmsnet up" refuse to start, a real failure in the middle of the step
  const demo = runDemo(['--duration', '2', '--status-interval', '60'], { env: { DMSNET_VPN_MTU: '5' } })
  leftoversCleanup(t, demo)
  assert.equal(await demo.exited, 0, demo.err())
  const out = demo.out()
  const pid = demo.child.pid!
  assert.match(out, /vpn +failed: Error: daemon a exited: .*vpn\.mtu/)
  assert.match(out, /vpn +removed the VPN daemons and namespaces; the rest of the demo goes on/)
  assert.match(out, /demo +running; a status table every 60s/)
  assert.match(out, /NODE +PEER ID +PROFILE/)
  assert.match(out, /stopped; removed /)
  assert.deepEqual(namespacesOf(pid), [], 'no dmsdemo- namespace left')
  assert.deepEqual(daemonsOf(pid), [], 'no daemon left running')
})

test('demo without root: the VPN step says why it is skipped, the rest runs', { timeout: 180_000 }, async (t) => {
  // as root, run the demo as "nobody" so this path is tested in CI too
  const demo = runDemo(['--duration', '1', '--status-interval', '60'], isRoot ? { uid: 65534, gid: 65534 } : {})
  leftoversCleanup(t, demo)
  assert.equal(await demo.exited, 0, demo.err())
  const out = demo.out()
  assert.match(out, /demo +step (\d)\/\1: VPN/, 'the VPN step comes last')
  assert.match(out, /demo +VPN step skipped: not running as root: the VPN part needs root for network namespaces and TUN devices \(try: sudo npm start\)/)
  assert.match(out, /all 3 nodes connected again inside swarm "demo" on the new key/, 'the steps before it ran')
  assert.doesNotMatch(out, /vpn +namespaces dmsdemo-/)
})

/**
 * `vpn.congestionControl` (docs/vpn.md, "Inner TCP"): the VPN device's routes (its IPv4 and IPv6
 * prefixes and the extra routes behind members) carry `congctl`, so a TCP connection over the VPN
 * starts with that algorithm while the namespace's default stays for everything else; the route
 * is not locked (an application may still switch a connection with TCP_CONGESTION); a name the kernel does not
 * have leaves the routes as they were, is counted (`congctlRefused`) and logged once with the
 * algorithms the kernel has; tcp_allowed_congestion_control (what an unprivileged setsockopt may
 * pick) does not limit a route's congctl; a link down/up, which makes the kernel drop the routes and
 * the IPv6 address, is repaired (src/netdev/link-watch.ts). Real TUN devices in a namespace; the algorithm each socket
 * got is read back with getsockopt(TCP_CONGESTION) by a python3 process in that namespace.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { availableCongestionControl, netdevTunFactory } from '../../src/vpn/tun-device.js'
import type { Logger } from '../../src/logging.js'
import { loadConfig } from '../../src/config/load.js'
import { netnsFixture, type NetnsFixture } from '../helpers/netns.js'
import { requireRoot } from '../helpers/root.js'
import { waitFor } from '../helpers/wait.js'
import type { VpnTun } from '../../src/vpn/types.js'

/**
 * Opens a TCP connection to each `addr` (port 9, nobody answers: it stays in SYN-SENT) and prints
 * the algorithm it has; `reno:ADDR` switches to reno once connecting (the route's choice is made at
 * connect(), replacing one set before it; after it, an unlocked route lets the application choose).
 */
const PROBE = `
import socket, sys
out = []
for a in sys.argv[1:]:
    own = a.startswith('reno:')
    a = a[5:] if own else a
    s = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((a, 9))
    if own: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'reno')
    out.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).split(b'\\0')[0].decode())
print(' '.join(out))
`

async function congestionOf (net: NetnsFixture, ns: string, addrs: string[]): Promise<string[]> {
  return (await net.exec(ns, 'python3', ['-c', PROBE, ...addrs])).trim().split(' ')
}

/** How many `ip ... monitor link dev NAME` processes run (the device's link watch). */
function monitorsOf (name: string): number {
  let n = 0
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    let argv: string[]
    try { argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(a => a !== '') } catch { continue }
    if (argv.includes('monitor') && argv.at(-2) === 'dev' && argv.at(-1) === name) n++
  }
  return n
}

/** A namespace whose default is reno, so both what the routes change and what they leave alone show. */
async function renoNamespace (t: TestContext, label: string): Promise<{ net: NetnsFixture, ns: string }> {
  const net = netnsFixture(t)
  const ns = await net.namespace(label)
  await net.exec(ns, 'sysctl', ['-qw', 'net.ipv4.tcp_congestion_control=reno'])
  return { net, ns }
}

interface Warning { obj: Record<string, unknown>, msg: string }

/** A logger that keeps its warnings (the only level tun-device.ts uses). */
function warningLog (): { log: Logger, warnings: Warning[] } {
  const warnings: Warning[] = []
  const log = { warn: (obj: Record<string, unknown>, msg: string) => { warnings.push({ obj, msg }) } } as unknown as Logger
  return { log, warnings }
}

async function open (net: NetnsFixture, ns: string, stem: string, v4: string, v6: string, routes: string[], congestionControl: string, log?: Logger): Promise<VpnTun> {
  return await netdevTunFactory({ netns: ns, log })({ name: net.ifname(stem), mtu: 1420, offload: true, addresses: [v4, v6], routes, congestionControl })
}

test('vpn.congestionControl: the device\'s prefixes and extra routes suggest it; other routes keep the default, and an application may still switch', async t => {
  if (!requireRoot(t)) return
  const { net, ns } = await renoNamespace(t, 'cc')
  const { log, warnings } = warningLog()
  const vpn = await open(net, ns, 'cv', '10.86.0.1/24', 'fd86::1/64', ['10.87.0.0/24'], 'cubic', log)
  t.after(async () => { await vpn.close() })
  // the positive control: a device opened with '' (the host's default) next to it
  const plain = await open(net, ns, 'cp', '10.88.0.1/24', 'fd88::1/64', [], '')
  t.after(async () => { await plain.close() })

  assert.equal(vpn.stats?.().congctlRoutes, 3, 'IPv4 prefix, IPv6 prefix, the extra route')
  assert.equal(vpn.stats?.().congctlRefused, 0)
  assert.deepEqual(warnings, [], 'an algorithm the kernel has is not warned about')
  assert.equal(plain.stats?.().congctlRoutes, 0)
  assert.equal(plain.stats?.().congctlRefused, 0)
  assert.match(await net.exec(ns, 'ip', ['-4', 'route', 'show', '10.86.0.0/24']), /proto kernel scope link src 10\.86\.0\.1 .*congctl cubic/)
  assert.deepEqual(await congestionOf(net, ns, ['10.86.0.2', 'fd86::2', '10.87.0.9', '10.88.0.2', 'fd88::2', 'reno:10.86.0.3']),
    ['cubic', 'cubic', 'cubic', 'reno', 'reno', 'reno'])

  // routes set later (setRoutes) get it too, and lose it with the route
  await vpn.setRoutes?.(['10.89.0.0/24'])
  assert.equal(vpn.stats?.().congctlRoutes, 3)
  assert.deepEqual(await congestionOf(net, ns, ['10.89.0.7']), ['cubic'])
})

test('vpn.congestionControl: a name the kernel does not have leaves the routes as they were, counts them and warns once with what the kernel has', async t => {
  if (!requireRoot(t)) return
  const { net, ns } = await renoNamespace(t, 'cx')
  const { log, warnings } = warningLog()
  const vpn = await open(net, ns, 'cn', '10.90.0.1/24', 'fd90::1/64', ['10.91.0.0/24'], 'nosuchcc', log)
  t.after(async () => { await vpn.close() })
  assert.equal(vpn.stats?.().congctlRoutes, 0)
  assert.equal(vpn.stats?.().congctlRefused, 3, 'IPv4 prefix, IPv6 prefix, the extra route: each refused')
  assert.deepEqual(await congestionOf(net, ns, ['10.90.0.2', 'fd90::2', '10.91.0.9']), ['reno', 'reno', 'reno'])

  // the operator learns it: one warning naming the wanted name and what the kernel has (read in the namespace)
  const available = await availableCongestionControl(ns)
  assert.ok(available?.includes('reno'), `reno is always built in: ${String(available)}`)
  assert.equal(warnings.length, 1)
  assert.equal(warnings[0]?.obj.wanted, 'nosuchcc')
  assert.deepEqual(warnings[0]?.obj.available, available)
  assert.equal(warnings[0]?.obj.refusedRoutes, 3)
  assert.match(warnings[0]?.msg ?? '', /"nosuchcc" is not a TCP congestion control this kernel has or could load \(available: [a-z0-9_ ]*reno/)

  // a route added later is refused too: counted, not warned about again
  await vpn.setRoutes?.(['10.91.0.0/24', '10.92.0.0/24'])
  assert.equal(vpn.stats?.().congctlRefused, 4)
  assert.equal(warnings.length, 1)
  await vpn.setRoutes?.([])
  assert.equal(vpn.stats?.().congctlRefused, 2, 'the prefixes\' routes stay')
})

test('vpn.congestionControl: tcp_allowed_congestion_control does not limit a route\'s congctl (an unprivileged socket gets an algorithm it may not pick itself)', async t => {
  if (!requireRoot(t)) return
  const allowed = readFileSync('/proc/sys/net/ipv4/tcp_allowed_congestion_control', 'utf8').split(/\s+/)
  const available = await availableCongestionControl(undefined) ?? []
  const restricted = available.find(n => !allowed.includes(n))
  // the allowed list is kernel-wide and this test does not change it for the others on the host
  if (restricted == null) { t.skip(`every available algorithm (${available.join(' ')}) is allowed here: nothing to show`); return }
  const net = netnsFixture(t)
  const ns = await net.namespace('ca')
  const other = available.find(n => n !== restricted) ?? assert.fail('only one algorithm')
  await net.exec(ns, 'sysctl', ['-qw', `net.ipv4.tcp_congestion_control=${other}`])
  const vpn = await open(net, ns, 'ca', '10.93.0.1/24', 'fd93::1/64', [], restricted)
  t.after(async () => { await vpn.close() })
  assert.equal(vpn.stats?.().congctlRoutes, 2)
  const asNobody = async (): Promise<string> => (await net.exec(ns, 'setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all',
    // not a per-user shim on PATH (root's pyenv): nobody could not run it
    existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', '-c', `${PROBE}\ntry:\n    socket.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'${restricted}')\n    print('picked')\nexcept PermissionError:\n    print('refused')`, '10.93.0.2'])).trim()
  // the positive control is the second line: the same process may not pick it itself
  assert.equal(await asNobody(), `${restricted}\nrefused`)
})

test('vpn.congestionControl: cubic by default; a malformed name is a ConfigError naming the key', () => {
  assert.equal(loadConfig({}).vpn.congestionControl, 'cubic')
  assert.equal(loadConfig({ base: { vpn: { congestionControl: '' } } }).vpn.congestionControl, '')
  assert.throws(() => loadConfig({ env: { DMSNET_VPN_CONGESTION_CONTROL: 'BBR; rm' } }),
    (e: Error & { issues?: Array<{ key: string }> }) => e.name === 'ConfigError' && e.issues?.[0]?.key === 'vpn.congestionControl')
})

test('link down and up: the VPN device gets its IPv6 address, its extra routes and congctl back (the kernel restores only a bare IPv4 prefix route)', async t => {
  if (!requireRoot(t)) return
  const { net, ns } = await renoNamespace(t, 'cl')
  const { log, warnings } = warningLog()
  const name = net.ifname('cl')
  const vpn = await netdevTunFactory({ netns: ns, log })({ name, mtu: 1420, offload: true, addresses: ['10.94.0.1/24', 'fd94::1/64'], routes: ['10.95.0.0/24'], congestionControl: 'cubic' })
  t.after(async () => { await vpn.close().catch(() => {}) })
  const routes = async (): Promise<string> => await net.exec(ns, 'ip', ['route', 'show', 'dev', name]) + await net.exec(ns, 'ip', ['-6', 'route', 'show', 'dev', name])
  const configured = async (): Promise<void> => {
    const r = await routes()
    assert.match(r, /^10\.94\.0\.0\/24 proto kernel scope link src 10\.94\.0\.1 .*congctl cubic/m, r)
    assert.match(r, /^10\.95\.0\.0\/24 .*congctl cubic/m, r)
    assert.match(r, /^fd94::\/64 proto kernel .*congctl cubic/m, r)
    assert.match(await net.exec(ns, 'ip', ['-6', 'addr', 'show', 'dev', name]), /inet6 fd94::1\/64/)
    assert.deepEqual(await congestionOf(net, ns, ['10.94.0.2', 'fd94::2', '10.95.0.9']), ['cubic', 'cubic', 'cubic'])
  }
  await configured()
  assert.equal(vpn.stats?.().linkRestores, 0)

  for (const round of [1, 2]) {
    await net.exec(ns, 'ip', ['link', 'set', 'dev', name, 'down'])
    // what the kernel leaves: no extra route, no IPv6 prefix (the address went with the down)
    assert.doesNotMatch(await routes(), /10\.95\.0\.0|fd94::/)
    await net.exec(ns, 'ip', ['link', 'set', 'dev', name, 'up'])
    await waitFor(() => vpn.stats?.().linkRestores === round, 10_000, `restore ${round}`)
    await configured()
  }
  assert.equal(vpn.stats?.().linkRestoreFailures, 0)
  assert.deepEqual(warnings, [])

  // routes set after a restore are kept by the next one
  await vpn.setRoutes?.(['10.95.0.0/24', '10.97.0.0/24'])
  await net.exec(ns, 'ip', ['link', 'set', 'dev', name, 'down'])
  await net.exec(ns, 'ip', ['link', 'set', 'dev', name, 'up'])
  await waitFor(() => vpn.stats?.().linkRestores === 3, 10_000, 'restore 3')
  assert.match(await routes(), /^10\.97\.0\.0\/24 .*congctl cubic/m)
  assert.equal(vpn.stats?.().congctlRoutes, 4)

  // closing the device ends its watcher (the `ip monitor` child)
  assert.equal(monitorsOf(name), 1)
  await vpn.close()
  await waitFor(() => monitorsOf(name) === 0, 10_000, 'the link watch to exit')
})

/**
 * The VPN plug-in loads its code on demand (src/daemon/features/vpn.ts, issue 10): a node in no VPN
 * has not loaded src/vpn (seen by a module resolve hook registered before anything of the daemon
 * is imported), still advertises the VPN's protocols, and the first invitation loads the VPN, which
 * judges it as before. The stand-in's protocol list and state file are checked against the VPN's.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { trackResolvedModules } from '../helpers/resolved-modules.js'
import { recordHandles } from '../helpers/handle-recorder.js'

// every module resolved from here on; the daemon's modules are imported below, after this
const resolved = trackResolvedModules()
const loadedVpnCode = (): string[] => resolved.urls().filter(u => /\/vpn\/vpn\.[jt]s$|\/features\/vpn-impl\.[jt]s$/.test(u))

const { loadConfig } = await import('../../src/config/load.js')
const { createNode } = await import('../../src/daemon/node.js')
const { VPN_PROTOCOLS, vpnStateFile } = await import('../../src/daemon/features/vpn.js')
const { startNode, waitFor } = await import('../network/helpers.js')
type VpnModule = import('../../src/daemon/features/vpn.js').VpnModule
type Vpn = import('../../src/vpn/vpn.js').Vpn

test('a plain node has not loaded the VPN code, advertises its protocols, and loads it on the first invitation', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-vpnlazy-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const cfg = loadConfig({ flags: { dataDir: dir, 'network.listen': ['/ip4/127.0.0.1/tcp/0'], 'logging.level': 'warn', 'ui.enabled': false } })
  const node = createNode(cfg)
  t.after(async () => { await node.stop() })
  await node.start()

  const mod = node.module<VpnModule>('vpn') ?? assert.fail('no vpn module')
  const loaded = (): Vpn | undefined => mod.vpn
  assert.equal(loaded(), undefined)
  assert.deepEqual(loadedVpnCode(), [], 'src/vpn and vpn-impl are not loaded by a plain node')
  assert.deepEqual(mod.status?.(), { state: 'idle', ipv4: null, members: 0, authority: false })
  const protocols = node.network.host.getProtocols()
  for (const p of Object.keys(VPN_PROTOCOLS)) assert.ok(protocols.includes(p), `${p} advertised before the load`)
  assert.doesNotMatch(await node.metrics.metrics(), /^dmsnet_vpn_/m)

  // the authority: a VPN on another node (the library, an in-memory TUN), inviting the plain node
  const { createVpn } = await import('../../src/vpn/vpn.js')
  const a = await startNode()
  t.after(async () => { await a.stop() })
  const va = await createVpn({
    network: a.net,
    config: { dataDir: a.dir, dnsPort: 0 },
    tun: async (o) => ({ name: o.name, vnetHdr: true, start () {}, write () {}, async close () {} }),
    name: 'alpha',
    acceptInvite: () => true
  })
  t.after(async () => { await va.stop() })
  await a.net.dial(node.network.getMultiaddrs()[0]!)
  // start() awaits the membership push to every member: the plain node has loaded and judged it when it returns
  await va.start([{ peerId: node.peerId, name: 'beta' }])
  const vpn = loaded() ?? assert.fail('the invitation did not load the VPN')
  assert.ok(loadedVpnCode().some(u => u.endsWith('/vpn-impl.js') || u.endsWith('/vpn-impl.ts')))
  // the daemon's default rule (vpn.acceptInvitesFrom empty, public network): refused, as before the change
  assert.equal(vpn.status().policy.invitationsRefused, 1)
  assert.notEqual(vpn.status().state, 'running')
  assert.match(await node.metrics.metrics(), /^# HELP dmsnet_vpn_/m)
  // the stand-ins handed over to the loaded VPN: the protocols are still advertised exactly once
  const after = node.network.host.getProtocols()
  for (const p of Object.keys(VPN_PROTOCOLS)) assert.equal(after.filter(x => x === p).length, 1, p)
  // and a vpn.* call reaches the loaded VPN
  await waitFor(() => node.registry.has('vpn.status'), 5_000, 'vpn.status registered')
  const st = await (node.registry.get('vpn.status').handler as (p: unknown, c: { signal: AbortSignal }) => Promise<{ policy: { invitationsRefused: number } }>)({}, { signal: AbortSignal.timeout(5_000) })
  assert.equal(st.policy.invitationsRefused, 1)
})

test('VPN_PROTOCOLS and vpnStateFile are what the VPN registers and reads', async (t) => {
  const { createVpn } = await import('../../src/vpn/vpn.js')
  const { createStateStore } = await import('../../src/vpn/state-store.js')
  const a = await startNode()
  t.after(async () => { await a.stop() })
  const { net, registered } = recordHandles(a.net)
  const v = await createVpn({ network: net, config: { dataDir: a.dir, dnsPort: 0 }, tun: async () => assert.fail('no device without a membership') })
  await v.start()
  assert.deepEqual(registered, VPN_PROTOCOLS)
  assert.equal(createStateStore(a.dir).file, vpnStateFile(a.dir))
})

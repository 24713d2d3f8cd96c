// The vpn.* keys of the membership policy and the node's VPN name: defaults, what is refused (a
// ConfigError naming the key), and that the policy takes them as the daemon passes them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../../src/config/load.js'
import { createMembershipPolicy } from '../../src/vpn/policy.js'

test('vpn policy keys: private-only ranges, peer ids for routes, switching off by default; vpn.name a DNS label', () => {
  const dflt = loadConfig({}).vpn
  assert.deepEqual(dflt.acceptRanges, ['100.64.0.0/10', 'fc00::/7'])
  assert.deepEqual(dflt.acceptRoutesFrom, [])
  assert.equal(dflt.allowNetworkSwitch, false)
  assert.equal(dflt.name, '')
  const set = loadConfig({ env: { DMSNET_VPN_ACCEPT_RANGES: '10.20.0.0/16,fd00::/8', DMSNET_VPN_ALLOW_NETWORK_SWITCH: 'true', DMSNET_VPN_NAME: 'db-1' } }).vpn
  assert.deepEqual(set.acceptRanges, ['10.20.0.0/16', 'fd00::/8'])
  assert.equal(createMembershipPolicy(set).allowNetworkSwitch, true)
  assert.equal(set.name, 'db-1')
  for (const [env, value] of [['DMSNET_VPN_ACCEPT_RANGES', '0.0.0.0/0'], ['DMSNET_VPN_ACCEPT_RANGES', '100.0.0.0/8'], ['DMSNET_VPN_ACCEPT_RANGES', '2000::/3'], ['DMSNET_VPN_ACCEPT_ROUTES_FROM', '/ip4/1.2.3.4/tcp/1'], ['DMSNET_VPN_NAME', 'Not_A_Label']] as const) {
    assert.throws(() => loadConfig({ env: { [env]: value } }), (e: Error & { issues?: Array<{ key: string }> }) => e.name === 'ConfigError' && e.issues?.[0]?.key.startsWith('vpn.') === true, `${env}=${value}`)
  }
})

/**
 * One source of defaults: the schema. docs/config.md's table shows exactly the schema's defaults,
 * the features' fallbacks are the schema's values, and what docs/config.md says of profiles and
 * `network.dht.mode: auto` holds on running nodes.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { configDefaults } from '../../src/config/schema.js'
import { DEFAULT_CIDR, DEFAULT_IPV6_PREFIX } from '../../src/vpn/address-plan.js'
import { DEFAULT_ACCEPT_RANGES } from '../../src/vpn/policy.js'
import { loadConfig } from '../../src/config/index.js'
import { startNode } from '../network/helpers.js'

function valueAt (obj: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj)
}

test('docs/config.md lists the schema\'s default for every key it shows a literal default for', () => {
  const doc = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8')
  const rows = [...doc.matchAll(/^\| `([a-zA-Z.]+)` \| \w+ \| `([^`]*)` \|/gm)]
  assert.ok(rows.length > 50, `found ${rows.length} rows`)
  const wrong: string[] = []
  for (const [, key, shown] of rows) {
    const actual = valueAt(configDefaults, key!)
    // path defaults (`<dataDir>/...`) are resolved by loadConfig; they show as text, not JSON
    if (shown!.startsWith('<')) continue
    if (JSON.stringify(actual) !== shown) wrong.push(`${key}: docs ${shown}, schema ${JSON.stringify(actual)}`)
  }
  assert.deepEqual(wrong, [])
})

test('the VPN\'s fallbacks are the schema\'s defaults', () => {
  assert.equal(DEFAULT_CIDR, configDefaults.vpn.cidr)
  assert.equal(DEFAULT_IPV6_PREFIX, configDefaults.vpn.ipv6Prefix)
  assert.deepEqual([...DEFAULT_ACCEPT_RANGES], configDefaults.vpn.acceptRanges)
})

test('a profile sets the mDNS default only; DHT mode auto serves from the start in both, client never does', async t => {
  const lan = await startNode({ profile: 'lan', 'network.dht.mode': 'auto', 'network.mdns.enabled': 'false' })
  t.after(async () => { await lan.stop() })
  const server = await startNode({ profile: 'server', 'network.dht.mode': 'auto' })
  t.after(async () => { await server.stop() })
  const client = await startNode({ 'network.dht.mode': 'client' })
  t.after(async () => { await client.stop() })
  assert.equal(lan.net.dht.getMode(), 'server')
  assert.equal(server.net.dht.getMode(), 'server')
  assert.equal(client.net.dht.getMode(), 'client')
  assert.equal(loadConfig({ profile: 'lan' }).network.mdns.enabled, true)
  assert.equal(loadConfig({ profile: 'server' }).network.mdns.enabled, false)
})

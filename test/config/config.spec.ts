/**
 * Configuration: defaults, file (JSON/YAML) < env < flags, and clear errors naming key, value and
 * what was expected.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError } from '../../src/errors.js'
import { configKeys, defaultConfig, demoConfig, envName, isCgnatSubnet, isUlaPrefix, loadConfig, renderConfigError } from '../../src/config/index.js'

function withDir (fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-cfg-'))
  try {
    fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function configError (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    return err
  }
  assert.fail('expected a ConfigError')
}

describe('config defaults', () => {
  it('has the documented defaults', () => {
    const c = defaultConfig()
    assert.equal(c.dataDir, join(homedir(), '.dmsnet'))
    assert.equal(c.profile, 'server')
    assert.deepEqual(c.network.listen, ['/ip4/0.0.0.0/tcp/9000', '/ip4/0.0.0.0/tcp/9001/ws'])
    assert.equal(c.network.identityFile, join(homedir(), '.dmsnet', 'identity.key'))
    assert.equal(c.network.dht.protocolPrefix, '/dmsnet')
    assert.equal(c.network.mdns.enabled, false)
    assert.equal(c.network.relay.client, true)
    assert.equal(c.network.relay.server, false)
    assert.equal(c.network.upnp.enabled, false)
    assert.ok(c.network.connectionManager.maxConnections >= 400)
    // streams start at the yamux spec window and grow on demand to 16 MiB, within a memory budget
    assert.equal(c.network.yamux.initialStreamWindowSize, 256 * 1024)
    assert.equal(c.network.yamux.maxStreamWindowSize, 16 * 1024 * 1024)
    assert.equal(c.network.yamux.connectionWindowBudget, 32 * 1024 * 1024)
    assert.equal(c.network.yamux.globalWindowBudget, 64 * 1024 * 1024)
    assert.deepEqual(c.network.randomWalk, { minIntervalMs: 5000, maxIntervalMs: 300000, stopAtConnections: 16 })
    assert.equal(c.control.socket, join(homedir(), '.dmsnet', 'control.sock'))
    assert.equal(c.swarm.stateFile, join(homedir(), '.dmsnet', 'swarm.json'))
    assert.deepEqual(c.messaging, { maxMessageSize: 1048576, ackTimeoutMs: 10000, maxInFlight: 256, replayWindowMs: 120000, defaultExpiryMs: 60000, signDirect: false })
    assert.equal(c.vpn.cidr, '100.64.0.0/10')
    assert.equal(c.vpn.ipv6Prefix, 'fd64:646d:736e::/64')
    assert.deepEqual(c.metrics, { enabled: false, host: '127.0.0.1', port: 9464 })
    assert.equal(c.logging.level, 'info')
  })

  it('mdns follows the profile unless set', () => {
    assert.equal(loadConfig({ profile: 'lan' }).network.mdns.enabled, true)
    assert.equal(loadConfig({ flags: { profile: 'lan', 'network.mdns.enabled': 'false' } }).network.mdns.enabled, false)
  })

  it('paths derive from dataDir', () => {
    const c = loadConfig({ flags: { dataDir: '/srv/dms' } })
    assert.equal(c.network.identityFile, '/srv/dms/identity.key')
    assert.equal(c.control.socket, '/srv/dms/control.sock')
  })

  it('demo config listens on loopback with mdns', () => {
    const c = demoConfig('/tmp/demo-x')
    assert.deepEqual(c.network.listen, ['/ip4/127.0.0.1/tcp/0'])
    assert.equal(c.network.mdns.enabled, true)
    assert.equal(c.dataDir, '/tmp/demo-x')
  })
})

describe('config sources and precedence', () => {
  it('file < env < flags, JSON and YAML', () => withDir(dir => {
    const json = join(dir, 'c.json')
    writeFileSync(json, JSON.stringify({ network: { connectionManager: { maxConnections: 50, dialTimeoutMs: 5000 }, listen: ['/ip4/127.0.0.1/tcp/1'] }, logging: { level: 'debug' } }))
    const yaml = join(dir, 'c.yaml')
    writeFileSync(yaml, 'network:\n  connectionManager:\n    maxConnections: 60\nvpn:\n  domain: corp\n')
    const env = { DMSNET_NETWORK_CONNECTION_MANAGER_MAX_CONNECTIONS: '70', DMSNET_NETWORK_LISTEN: '/ip4/127.0.0.1/tcp/2, /ip4/127.0.0.1/tcp/3/ws', DMSNET_NETWORK_UPNP_ENABLED: 'true', HOME_UNRELATED: 'x' }
    const flags = { 'network.connectionManager.maxConnections': '80' }

    assert.equal(loadConfig({ file: json }).network.connectionManager.maxConnections, 50)
    assert.equal(loadConfig({ file: yaml }).network.connectionManager.maxConnections, 60)
    assert.equal(loadConfig({ file: yaml }).vpn.domain, 'corp')
    const fe = loadConfig({ file: json, env })
    assert.equal(fe.network.connectionManager.maxConnections, 70)
    assert.equal(fe.network.connectionManager.dialTimeoutMs, 5000, 'untouched file keys survive')
    assert.deepEqual(fe.network.listen, ['/ip4/127.0.0.1/tcp/2', '/ip4/127.0.0.1/tcp/3/ws'])
    assert.equal(fe.network.upnp.enabled, true)
    assert.equal(fe.logging.level, 'debug')
    const all = loadConfig({ file: json, env, flags })
    assert.equal(all.network.connectionManager.maxConnections, 80)
  }))

  it('accepts the compact env spelling and DMSNET_LOG_LEVEL', () => {
    const c = loadConfig({ env: { DMSNET_NETWORK_CONNECTIONMANAGER_MAXCONNECTIONS: '90', DMSNET_LOG_LEVEL: 'warn', DMSNET_DATA_DIR: '/var/lib/dmsnet' } })
    assert.equal(c.network.connectionManager.maxConnections, 90)
    assert.equal(c.logging.level, 'warn')
    assert.equal(c.dataDir, '/var/lib/dmsnet')
  })

  it('an empty variable is unset, except that it empties a list', () => {
    const c = loadConfig({ env: { DMSNET_LOG_LEVEL: '', DMSNET_METRICS_PORT: ' ', DMSNET_NETWORK_LISTEN: '' } })
    assert.equal(c.logging.level, 'info')
    assert.equal(c.metrics.port, 9464)
    assert.deepEqual(c.network.listen, [])
  })

  it('every key has an env name', () => {
    const keys = configKeys()
    assert.ok(keys.some(k => k.key === 'network.connectionManager.maxConnections' && k.env === 'DMSNET_NETWORK_CONNECTION_MANAGER_MAX_CONNECTIONS'))
    assert.equal(envName('network.listen'), 'DMSNET_NETWORK_LISTEN')
  })
})

describe('config errors', () => {
  it('a bad env value names the key, the value and what was expected', () => {
    const err = configError(() => loadConfig({ env: { DMSNET_NETWORK_CONNECTION_MANAGER_MAX_CONNECTIONS: 'abc' } }))
    assert.match(err.message, /network\.connectionManager\.maxConnections: got "abc", expected a positive integer/)
    assert.deepEqual(err.issues, [{ key: 'network.connectionManager.maxConnections', value: 'abc', expected: 'a positive integer' }])
  })

  it('a connection low-water mark above the high-water mark is refused, naming the key', () => {
    const err = configError(() => loadConfig({ env: { DMSNET_NETWORK_CONNECTION_MANAGER_HIGH_WATER: '40', DMSNET_NETWORK_CONNECTION_MANAGER_LOW_WATER: '50' } }))
    assert.match(err.message, /network\.connectionManager\.lowWater/)
    // the positive control: equal marks, and no trim at all (highWater 0) with any low mark
    assert.equal(loadConfig({ env: { DMSNET_NETWORK_CONNECTION_MANAGER_HIGH_WATER: '40', DMSNET_NETWORK_CONNECTION_MANAGER_LOW_WATER: '40' } }).network.connectionManager.lowWater, 40)
    assert.equal(loadConfig({ env: { DMSNET_NETWORK_CONNECTION_MANAGER_HIGH_WATER: '0', DMSNET_NETWORK_CONNECTION_MANAGER_LOW_WATER: '50' } }).network.connectionManager.highWater, 0)
  })

  it('gossip mesh degrees out of order, a gossip factor over 1 and a huge Buffer pool are refused, naming the key', () => {
    const order = configError(() => loadConfig({ env: { DMSNET_NETWORK_PUBSUB_MESH_DEGREE_LOW: '5', DMSNET_NETWORK_PUBSUB_MESH_DEGREE: '4' } }))
    assert.match(order.message, /network\.pubsub\.meshDegree/)
    assert.match(order.message, /meshDegreeLow <= meshDegree <= meshDegreeHigh/)
    const factor = configError(() => loadConfig({ env: { DMSNET_NETWORK_PUBSUB_GOSSIP_FACTOR: '1.5' } }))
    assert.deepEqual(factor.issues.map(i => i.key), ['network.pubsub.gossipFactor'])
    const pool = configError(() => loadConfig({ env: { DMSNET_MEMORY_BUFFER_POOL_BYTES: '1000000' } }))
    assert.match(pool.message, /memory\.bufferPoolBytes.*at most 65536/)
    // the positive control: gossipsub's own degrees, and no pool at all, are accepted
    const own = loadConfig({ env: { DMSNET_NETWORK_PUBSUB_MESH_DEGREE: '6', DMSNET_NETWORK_PUBSUB_MESH_DEGREE_LOW: '4', DMSNET_NETWORK_PUBSUB_MESH_DEGREE_HIGH: '12', DMSNET_NETWORK_PUBSUB_GOSSIP_FACTOR: '0.25', DMSNET_MEMORY_BUFFER_POOL_BYTES: '0' } })
    assert.deepEqual([own.network.pubsub.meshDegreeLow, own.network.pubsub.meshDegree, own.network.pubsub.meshDegreeHigh, own.network.pubsub.gossipFactor, own.memory.bufferPoolBytes], [4, 6, 12, 0.25, 0])
  })

  it('memory.turbofanCpuPct: 25 by default, 0 accepted, over 100 or negative refused naming the key', () => {
    assert.equal(loadConfig({ env: {} }).memory.turbofanCpuPct, 25)
    assert.equal(loadConfig({ env: { DMSNET_MEMORY_TURBOFAN_CPU_PCT: '0' } }).memory.turbofanCpuPct, 0)
    const over = configError(() => loadConfig({ env: { DMSNET_MEMORY_TURBOFAN_CPU_PCT: '101' } }))
    assert.match(over.message, /memory\.turbofanCpuPct.*at most 100/)
    const neg = configError(() => loadConfig({ env: { DMSNET_MEMORY_TURBOFAN_CPU_PCT: '-1' } }))
    assert.deepEqual(neg.issues.map(i => i.key), ['memory.turbofanCpuPct'])
  })

  it('memory.reclaim.tidyIntervalMs: 60000 by default, 0 (never) accepted, negative or not a number refused naming the key', () => {
    assert.equal(loadConfig({ env: {} }).memory.reclaim.tidyIntervalMs, 60_000)
    assert.equal(loadConfig({ env: { DMSNET_MEMORY_RECLAIM_TIDY_INTERVAL_MS: '0' } }).memory.reclaim.tidyIntervalMs, 0)
    for (const bad of ['-1', 'abc', '1.5']) {
      const e = configError(() => loadConfig({ env: { DMSNET_MEMORY_RECLAIM_TIDY_INTERVAL_MS: bad } }))
      assert.deepEqual(e.issues.map(i => i.key), ['memory.reclaim.tidyIntervalMs'], bad)
    }
  })

  it('memory.reclaim.refillMs: 5 minutes by default, 0 (the reclaim\'s result) accepted, negative refused naming the key', () => {
    assert.equal(loadConfig({ env: {} }).memory.reclaim.refillMs, 300_000)
    assert.equal(loadConfig({ env: { DMSNET_MEMORY_RECLAIM_REFILL_MS: '0' } }).memory.reclaim.refillMs, 0)
    const e = configError(() => loadConfig({ env: { DMSNET_MEMORY_RECLAIM_REFILL_MS: '-1' } }))
    assert.deepEqual(e.issues.map(i => i.key), ['memory.reclaim.refillMs'])
  })

  it('memory.reclaim.settleGrowthBytes: 1 MiB by default, 0 (no settle rule) accepted, negative refused naming the key', () => {
    assert.equal(loadConfig({ env: {} }).memory.reclaim.settleGrowthBytes, 1024 * 1024)
    assert.equal(loadConfig({ env: { DMSNET_MEMORY_RECLAIM_SETTLE_GROWTH_BYTES: '0' } }).memory.reclaim.settleGrowthBytes, 0)
    const e = configError(() => loadConfig({ env: { DMSNET_MEMORY_RECLAIM_SETTLE_GROWTH_BYTES: '-1' } }))
    assert.deepEqual(e.issues.map(i => i.key), ['memory.reclaim.settleGrowthBytes'])
  })

  it('memory.reclaim.tidyTrim: off by default, true accepted, a non-boolean refused naming the key', () => {
    assert.equal(loadConfig({ env: {} }).memory.reclaim.tidyTrim, false)
    assert.equal(loadConfig({ env: { DMSNET_MEMORY_RECLAIM_TIDY_TRIM: 'true' } }).memory.reclaim.tidyTrim, true)
    const e = configError(() => loadConfig({ env: { DMSNET_MEMORY_RECLAIM_TIDY_TRIM: 'sometimes' } }))
    assert.deepEqual(e.issues.map(i => i.key), ['memory.reclaim.tidyTrim'])
  })
  it('memory.reclaim.tidyReduce: off by default, true accepted, a non-boolean refused naming the key', () => {
    assert.equal(loadConfig({ env: {} }).memory.reclaim.tidyReduce, false)
    assert.equal(loadConfig({ env: { DMSNET_MEMORY_RECLAIM_TIDY_REDUCE: 'true' } }).memory.reclaim.tidyReduce, true)
    const e = configError(() => loadConfig({ env: { DMSNET_MEMORY_RECLAIM_TIDY_REDUCE: 'sometimes' } }))
    assert.deepEqual(e.issues.map(i => i.key), ['memory.reclaim.tidyReduce'])
  })

  it('vpn.acceptInvitesFrom takes peer ids or *, and names a bad entry', () => {
    const id = '12D3KooWAa34VXqiR2kZBrPQpk6wNejAZEQqBWnxWztafHEvnBpB'
    assert.deepEqual(loadConfig({ env: { DMSNET_VPN_ACCEPT_INVITES_FROM: `${id},*` } }).vpn.acceptInvitesFrom, [id, '*'])
    assert.deepEqual(loadConfig({}).vpn.acceptInvitesFrom, [], 'nobody by default')
    const err = configError(() => loadConfig({ env: { DMSNET_VPN_ACCEPT_INVITES_FROM: 'bob' } }))
    assert.match(err.message, /vpn\.acceptInvitesFrom(\.0)?: got "bob", expected a peer id/)
  })

  it('a bad file reports every offending key, including unknown ones', () => withDir(dir => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, [
      'network:',
      '  listen: ["not-a-multiaddr"]',
      '  connectionManager:',
      '    maxConections: 10',
      '  dht:',
      '    mode: sometimes',
      'vpn:',
      '  cidr: 10.0.0.0/8',
      '  ipv6Prefix: 2001:db8::/64',
      'metrics:',
      '  port: 70000',
      'profile: laptop',
      ''
    ].join('\n'))
    const err = configError(() => loadConfig({ file }))
    const keys = err.issues.map(i => i.key).sort()
    assert.deepEqual(keys, ['metrics.port', 'network.connectionManager.maxConections', 'network.dht.mode', 'network.listen.0', 'profile', 'vpn.cidr', 'vpn.ipv6Prefix'])
    assert.match(err.message, /network\.listen\.0: got "not-a-multiaddr", expected a multiaddr/)
    assert.match(err.message, /network\.connectionManager\.maxConections: got 10, expected no such setting/)
    assert.match(err.message, /network\.dht\.mode: got "sometimes", expected one of auto, client, server/)
    assert.match(err.message, /vpn\.cidr: got "10\.0\.0\.0\/8", expected an IPv4 CIDR inside 100\.64\.0\.0\/10/)
    assert.match(err.message, /metrics\.port: got 70000, expected a port number/)
    const text = renderConfigError(err)
    assert.match(text, /invalid configuration \(7 problems\)/)
  }))

  it('bad flags and unknown flag/env keys are errors', () => {
    const err = configError(() => loadConfig({
      flags: { 'network.mdns.enabled': 'perhaps', 'network.listn': ['/ip4/127.0.0.1/tcp/0'], 'network.denyPeers': ['bogus'] },
      env: { DMSNET_NETWORK_LISTN: '/ip4/127.0.0.1/tcp/0', DMSNET_SOMETHING_ELSE: 'ignored: not one of our sections' }
    }))
    const byKey = new Map(err.issues.map(i => [i.key, i]))
    assert.equal(byKey.get('network.mdns.enabled')?.value, 'perhaps')
    assert.match(byKey.get('network.mdns.enabled')?.expected ?? '', /boolean/)
    assert.ok(byKey.has('network.listn'))
    assert.ok(byKey.has('DMSNET_NETWORK_LISTN'))
    assert.match(byKey.get('network.denyPeers.0')?.expected ?? '', /peer id/)
    assert.equal(err.issues.length, 4)
  })

  it('unreadable or malformed files give a ConfigError', () => withDir(dir => {
    configError(() => loadConfig({ file: join(dir, 'missing.json') }))
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{ "network": ')
    assert.match(configError(() => loadConfig({ file: broken })).message, /cannot parse/)
    const txt = join(dir, 'c.toml')
    writeFileSync(txt, 'a = 1')
    configError(() => loadConfig({ file: txt }))
    const arr = join(dir, 'arr.json')
    writeFileSync(arr, '[1,2]')
    configError(() => loadConfig({ file: arr }))
  }))
})

describe('address validators', () => {
  it('vpn cidr must be inside 100.64.0.0/10', () => {
    assert.ok(isCgnatSubnet('100.64.0.0/10'))
    assert.ok(isCgnatSubnet('100.100.0.0/16'))
    assert.ok(!isCgnatSubnet('100.128.0.0/16'))
    assert.ok(!isCgnatSubnet('100.64.0.1/24'), 'host bits set')
    assert.ok(!isCgnatSubnet('100.0.0.0/8'))
  })
  it('ipv6 prefix must be a ULA /48-/64', () => {
    assert.ok(isUlaPrefix('fd64:646d:736e::/64'))
    assert.ok(isUlaPrefix('fd00:1:2::/48'))
    assert.ok(!isUlaPrefix('fe80::/64'))
    assert.ok(!isUlaPrefix('fd00::/32'))
    assert.ok(!isUlaPrefix('fd00:zz::/64'))
  })
})

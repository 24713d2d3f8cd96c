/**
 * The config schema is garbage once a config is parsed (issue 10: a daemon used to hold its ~600
 * zod objects for life). Two things keep it so: src/config/schema.ts builds it in a function,
 * and src/config/zod-prime.ts builds a tiny schema of every kind first, because zod keeps the
 * first schema of each kind alive through its prototype getters. v8.queryObjects counts the live
 * zod objects (after a full GC) in this test's own process.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { queryObjects } from 'node:v8'
import { z } from 'zod'
import { configDefaults } from '../../src/config/schema.js'
import { loadConfig } from '../../src/config/load.js'

const live = (): number => queryObjects(z.ZodObject, { format: 'count' }) as number

test('loading the config leaves no config schema behind', () => {
  assert.equal(configDefaults.network.dht.kBucketSize, 20, 'the defaults were parsed at import')
  const before = live()
  // the config schema has ~25 objects (one per section); what the primer keeps is a handful
  assert.ok(before < 10, `${before} zod objects alive after import`)
  for (let i = 0; i < 3; i++) {
    const c = loadConfig({ flags: { dataDir: '/tmp/dmsnet-schema-lifetime', 'network.listen': ['/ip4/127.0.0.1/tcp/0'] }, env: { DMSNET_LOG_LEVEL: 'warn' } })
    assert.equal(c.logging.level, 'warn')
  }
  assert.equal(live(), before, 'three loadConfig calls leave nothing alive')
  // and the schema still refuses bad input, naming the key
  assert.throws(() => loadConfig({ flags: { 'network.dht.kBucketSize': -1 } }), /network\.dht\.kBucketSize/)
  assert.equal(live(), before)
})

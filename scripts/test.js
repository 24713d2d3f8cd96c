#!/usr/bin/env node
// Runs the compiled test suite (dist/test/**/*.spec.js) with Node's own test runner, one file at a
// time: many tests start real libp2p nodes, network namespaces and TUN devices, and a 2-core
// machine gives steadier results when they do not compete.
// Usage: node scripts/test.js [filter...]   (a filter is a substring of the test file's path)
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function walk (dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...walk(p))
    else if (p.endsWith('.spec.js')) out.push(p)
  }
  return out
}

const filters = process.argv.slice(2)
const files = walk('dist/test').sort().filter(f => filters.length === 0 || filters.some(x => f.includes(x)))
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}
const args = ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', ...files]
const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
process.exit(r.status ?? 1)

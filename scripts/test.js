#!/usr/bin/env node
// Runs the compiled test suite (dist/test/**/*.spec.js) with Node's own test runner, one file at a
// time: many tests start real libp2p nodes, network namespaces and TUN devices, and a 2-core
// machine gives steadier results when they do not compete.
//
// Usage: node scripts/test.js [--stress] [filter...]   (a filter is a substring of the test file's path)
//
// --stress (or DMSNET_TEST_STRESS=1): runs the suite while every core is kept busy by a bounded
// busy loop (one child process per core, at normal priority, killed when the suite ends and in any
// case after DMSNET_TEST_STRESS_MAX_S seconds, default 5400). It finds tests that still depend on
// timing: a test that passes only on an idle machine is waiting for time, not for an event.
import { fork, spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
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

// child mode: a busy loop that stops by itself
if (process.argv[2] === '--burn') {
  const end = Date.now() + Number(process.argv[3]) * 1000
  let x = 0
  while (Date.now() < end) {
    for (let i = 0; i < 1e6; i++) x = (x * 1103515245 + 12345) >>> 0
  }
  process.exit(x === -1 ? 1 : 0)
}

const argv = process.argv.slice(2)
const stress = argv.includes('--stress') || process.env.DMSNET_TEST_STRESS === '1'
const filters = argv.filter(a => a !== '--stress')
const files = walk('dist/test').sort().filter(f => filters.length === 0 || filters.some(x => f.includes(x)))
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}

const burners = []
if (stress) {
  const maxS = Number(process.env.DMSNET_TEST_STRESS_MAX_S ?? 5400)
  const n = availableParallelism()
  for (let i = 0; i < n; i++) burners.push(fork(new URL(import.meta.url).pathname, ['--burn', String(maxS)], { stdio: 'ignore' }))
  console.error(`# stress mode: ${n} busy processes (one per core) for at most ${maxS} s`)
}
const stopBurners = () => { for (const b of burners) b.kill('SIGKILL') }
process.on('exit', stopBurners)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopBurners(); process.exit(130) })

const args = ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', ...files]
const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
stopBurners()
process.exit(r.status ?? 1)

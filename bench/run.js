#!/usr/bin/env node
// `npm run bench -- <name> [args]`: runs the compiled benchmark dist/bench/<name>.js on the project's
// Node. Each benchmark prints human-readable progress on stderr and ends with one JSON line on
// stdout (the contract in README.md, "Benchmarks").
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'

const [name, ...rest] = process.argv.slice(2)
const available = existsSync('dist/bench')
  ? readdirSync('dist/bench').filter(f => f.endsWith('.js') && !f.startsWith('_')).map(f => f.replace(/\.js$/, ''))
  : []
if (name == null || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>   (run "npm run build" first)\navailable: ${available.join(', ') || '(none built)'}`)
  process.exit(2)
}
const r = spawnSync(process.execPath, ['--enable-source-maps', '--max-semi-space-size=64', `dist/bench/${name}.js`, ...rest], { stdio: 'inherit' })
process.exit(r.status ?? 1)

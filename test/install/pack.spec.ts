// The public API as a user gets it: `npm pack` the built package, install the tarball into an empty
// directory, and from there (Node 22, ESM) import `dmsnet` and every subpath of its `exports` map:
// every name the docs import (test/docs/blocks.ts collects them) is defined, each entry point
// exports what the checkout's build exports, a deep path is refused, and `npx dmsnet --version`
// prints the package version. No root needed.
//
// Dependencies come from npm's cache (`--offline`): `npm ci` fills it, so on CI and on any machine
// that installed this checkout nothing is downloaded. If the cache lacks a package (ENOTCACHED),
// the tarball is unpacked into node_modules/dmsnet and the checkout's installed dependencies are
// linked beside it: the package under test is still exactly the tarball's files.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../cli/helpers.js'
import { documentedImports } from '../docs/blocks.js'
import { ok, run } from './run.js'

type ExportTarget = string | { types: string, import: string }
interface PackageJson { name: string, version: string, exports: Record<string, ExportTarget> }

// run inside the install directory: what each entry point exports, and what a deep import does
const CHECK = `
const specs = JSON.parse(process.argv[2])
const out = { exports: {}, deep: null }
for (const spec of specs) {
  const ns = await import(spec)
  out.exports[spec] = Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, typeof v]))
}
try { await import('dmsnet/dist/src/index.js'); out.deep = 'imported' } catch (err) { out.deep = err.code }
console.log(JSON.stringify(out))
`

test('the packed tarball installs into an empty directory; every documented export and subpath imports; npx dmsnet --version runs', { timeout: 120_000 }, async (t) => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as PackageJson
  const tmp = mkdtempSync(join(tmpdir(), 'dmsnet-pack-'))
  t.after(() => { rmSync(tmp, { recursive: true, force: true }) })
  // npm may run on an older system Node; the installed package runs on this one (22)
  const nodeBin = join(tmp, 'node-bin')
  mkdirSync(nodeBin)
  symlinkSync(process.execPath, join(nodeBin, 'node'))
  const env = { ...process.env, PATH: `${nodeBin}:${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' }

  // the suite has built dist/ already: pack without the prepack rebuild
  const packed = JSON.parse(await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: repoRoot, env, timeoutMs: 60_000 })) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = new Set(packed[0]!.files.map(f => f.path))
  const subpaths = Object.keys(pkg.exports).filter(k => k !== './package.json')
  for (const sub of subpaths) {
    const target = pkg.exports[sub]!
    assert.equal(typeof target, 'object', `exports["${sub}"] names its types and its import`)
    const { types, import: js } = target as { types: string, import: string }
    for (const f of [types, js]) assert.ok(files.has(f.replace(/^\.\//, '')), `the tarball holds ${f} (exports["${sub}"])`)
  }
  const tarball = join(tmp, packed[0]!.filename)

  const app = join(tmp, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'dmsnet-pack-test', private: true, type: 'module' }))
  const install = await run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', tarball], { cwd: app, env, timeoutMs: 90_000 })
  if (install.code === 0) {
    t.diagnostic('installed with npm install --offline (dependencies from the npm cache)')
  } else if (/ENOTCACHED/.test(install.stderr)) {
    t.diagnostic('npm cache incomplete: tarball unpacked into node_modules/dmsnet, dependencies linked from the checkout')
    rmSync(join(app, 'node_modules'), { recursive: true, force: true })
    const dest = join(app, 'node_modules', 'dmsnet')
    mkdirSync(dest, { recursive: true })
    await ok('tar', ['xzf', tarball, '-C', dest, '--strip-components=1'], { cwd: app, env, timeoutMs: 30_000 })
    for (const name of readdirSync(join(repoRoot, 'node_modules'))) {
      if (name === 'dmsnet' || name.startsWith('.')) continue
      symlinkSync(join(repoRoot, 'node_modules', name), join(app, 'node_modules', name))
    }
    mkdirSync(join(app, 'node_modules', '.bin'))
    symlinkSync('../dmsnet/bin/dmsnet.js', join(app, 'node_modules', '.bin', 'dmsnet'))
  } else {
    assert.fail(`npm install of the tarball failed (exit ${install.code}):\n${install.stderr.slice(-3000)}`)
  }

  const specs = subpaths.map(s => s === '.' ? pkg.name : `${pkg.name}/${s.slice(2)}`)
  writeFileSync(join(app, 'check.mjs'), CHECK)
  const got = JSON.parse(await ok(process.execPath, ['check.mjs', JSON.stringify(specs)], { cwd: app, env, timeoutMs: 30_000 })) as { exports: Record<string, Record<string, string>>, deep: string }

  // every name the docs import is there, and is a value (types were checked by the doc-block test)
  const documented = documentedImports(repoRoot)
  assert.ok(documented.length >= 30, `the docs import the API (${documented.length} names found)`)
  const missing = documented.filter(d => !d.typeOnly && (got.exports[d.specifier]?.[d.name] ?? 'undefined') === 'undefined')
  assert.deepEqual(missing.map(d => `${d.specifier} ${d.name} (${d.where})`), [], 'documented exports missing from the installed package')
  for (const spec of new Set(documented.map(d => d.specifier))) assert.ok(specs.includes(spec), `the docs import ${spec}, which package.json exports`)

  // each installed entry point exports exactly what the checkout's build exports
  for (const [i, sub] of subpaths.entries()) {
    const target = pkg.exports[sub] as { import: string }
    const built = await import(join(repoRoot, target.import)) as Record<string, unknown>
    const want = Object.keys(built).sort()
    assert.deepEqual(Object.keys(got.exports[specs[i]!] ?? {}).sort(), want, `${specs[i]} exports the same names as ${target.import}`)
    assert.ok(want.length > 0, `${specs[i]} exports something`)
  }
  // the root re-exports each area whole: no name lost to a clash between areas
  const root = got.exports[pkg.name] ?? {}
  for (const area of ['config', 'network', 'messaging', 'swarm', 'vpn', 'netdev']) {
    const lost = Object.keys(got.exports[`${pkg.name}/${area}`] ?? {}).filter(name => !(name in root))
    assert.deepEqual(lost, [], `dmsnet re-exports every name of dmsnet/${area}`)
  }
  // the root carries the areas the issue names, the node and the control client
  for (const name of ['createNetwork', 'createMessaging', 'createSwarmManager', 'createVpn', 'createTun', 'createVeth', 'createBridge', 'createFirewall', 'createNetns', 'createNode', 'createControlClient']) {
    assert.equal(got.exports[pkg.name]?.[name], 'function', `dmsnet exports ${name}`)
  }
  assert.equal(got.deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'a deep import is refused: only the exports map is API')

  const version = await ok('npx', ['--no-install', 'dmsnet', '--version'], { cwd: app, env, timeoutMs: 30_000 })
  assert.equal(version.trim(), pkg.version)
})

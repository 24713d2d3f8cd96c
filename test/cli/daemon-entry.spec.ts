/**
 * What the re-executed daemon runs (src/cli/commands/up/daemon-entry.ts, issue 10): the minified
 * bundle when started from this package's compiled CLI and the bundle is fresh, the modules
 * otherwise; malloc's environment unless the operator set it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bundleEntry, DAEMON_ENV, missingEnv, packageRoot } from '../../src/cli/commands/up/daemon-entry.js'

/** A package tree like a checkout's: package.json (name dmsnet), bin, dist/src/cli/main.js, dist/bundle. */
function fakePackage (name = 'dmsnet'): string {
  const root = mkdtempSync(join(tmpdir(), 'dmsnet-entry-'))
  for (const d of ['bin', 'dist/src/cli', 'dist/bundle']) mkdirSync(join(root, d), { recursive: true })
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name }))
  for (const f of ['bin/dmsnet.js', 'dist/src/cli/main.js', 'dist/bundle/dmsnet.mjs']) writeFileSync(join(root, f), '')
  return root
}

const setMtime = (file: string, secs: number): void => { utimesSync(file, secs, secs) }

test('bundleEntry: the fresh bundle for this package\'s compiled CLI or bin, nothing otherwise', (t) => {
  const root = fakePackage()
  t.after(() => { rmSync(root, { recursive: true, force: true }) })
  const bundle = join(root, 'dist', 'bundle', 'dmsnet.mjs')
  const main = join(root, 'dist', 'src', 'cli', 'main.js')
  setMtime(main, 1000)
  setMtime(bundle, 2000)
  assert.equal(bundleEntry(main, {}, root), bundle)
  assert.equal(bundleEntry(join(root, 'bin', 'dmsnet.js'), {}, root), bundle)
  assert.equal(packageRoot(join(root, 'dist', 'src', 'cli')), root)

  assert.equal(bundleEntry(main, { DMSNET_BUNDLE: '0' }, root), undefined, 'DMSNET_BUNDLE=0')
  assert.equal(bundleEntry(bundle, {}, root), undefined, 'already the bundle')
  assert.equal(bundleEntry(join(root, 'src', 'cli', 'main.ts'), {}, root), undefined, 'run from source (tsx)')
  assert.equal(bundleEntry(undefined, {}, root), undefined)
  setMtime(bundle, 500)
  assert.equal(bundleEntry(main, {}, root), undefined, 'a bundle older than dist/src (tsc without npm run build) is stale')
  rmSync(bundle)
  assert.equal(bundleEntry(main, {}, root), undefined, 'no bundle built')
})

test('packageRoot: only a package.json named dmsnet counts', (t) => {
  const other = fakePackage('something-else')
  t.after(() => { rmSync(other, { recursive: true, force: true }) })
  const found = packageRoot(join(other, 'dist', 'src', 'cli'))
  assert.ok(found == null || !found.startsWith(other), String(found))
})

test('missingEnv: malloc settings unless already set', () => {
  assert.deepEqual(missingEnv({}), { ...DAEMON_ENV })
  assert.deepEqual(missingEnv({ MALLOC_TRIM_THRESHOLD_: '65536' }), {}, 'an operator\'s own value wins')
})

/**
 * Test temp dirs leave nothing in /tmp: a test process that fails before its cleanup still has its
 * `tempDir()`s removed when it exits (test/network/helpers.ts), and so does a `startNode` whose
 * network fails to start. Each case runs in a child process of its own, like a test file does.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'

const helpers = pathToFileURL(fileURLToPath(new URL('./helpers.js', import.meta.url))).href

/** Runs `body` (an async function's text, with `h` = the helpers module) in a child; its stdout lines and exit status. */
function child (body: string): { lines: string[], status: number | null } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const h = await import(${JSON.stringify(helpers)}); ${body}`], { encoding: 'utf8', timeout: 60_000 })
  return { lines: r.stdout.trim().split('\n').filter(l => l !== ''), status: r.status }
}

test('a test that throws before its cleanup leaves no temp dir; nor does a node that fails to start', () => {
  const failed = child(`
    const t = h.tempDir('dmsnet-leak-check-')
    const fs = await import('node:fs')
    console.log(t.dir, fs.existsSync(t.dir))
    throw new Error('the test failed half-way')`)
  assert.notEqual(failed.status, 0, 'the child failed')
  const [dir, existed] = failed.lines[0]!.split(' ')
  assert.equal(existed, 'true', 'the dir existed while the test ran')
  assert.equal(existsSync(dir!), false, `${dir} removed at exit`)

  // nodes that cannot start (a listen address that is no multiaddr; one this host does not have,
  // 192.0.2.77 of TEST-NET-1: nothing is sent): their data dirs go at once
  const bad = child(`
    const os = await import('node:os'); const fs = await import('node:fs')
    const before = new Set(fs.readdirSync(os.tmpdir()).filter(d => d.startsWith('dmsnet-net-')))
    let err, err2
    try { await h.startNode({ 'network.listen': ['/ip4/127.0.0.1/tcp/notaport'] }) } catch (e) { err = e }
    try { await h.startNode({ 'network.listen': ['/ip4/192.0.2.77/tcp/0'] }) } catch (e) { err2 = e }
    const left = fs.readdirSync(os.tmpdir()).filter(d => d.startsWith('dmsnet-net-') && !before.has(d))
    console.log(err?.name ?? 'started', err2?.name ?? 'started', JSON.stringify(left))
    process.exit(0)`)
  assert.equal(bad.status, 0)
  const [name, name2, left] = bad.lines[0]!.split(' ')
  assert.equal(name, 'ConfigError', 'a bad config fails the start')
  assert.notEqual(name2, 'started', 'listening on an address this host does not have fails the start')
  assert.deepEqual(JSON.parse(left!), [], 'no data dir left by the failed start (before any exit hook)')
})

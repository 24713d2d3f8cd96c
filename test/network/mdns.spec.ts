/**
 * mDNS discovery (the `lan` profile) between two real nodes. Multicast must not leave the test,
 * so the nodes run in a network namespace the test creates, with multicast routed over its
 * loopback only. Needs root.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { requireRoot } from '../helpers/root.js'

const here = fileURLToPath(import.meta.url)
const ext = here.endsWith('.ts') ? '.ts' : '.js'
const child = fileURLToPath(new URL(`./fixtures/mdns-child${ext}`, import.meta.url))

describe('mDNS (lan profile)', () => {
  it('two nodes find each other on the LAN and connect by peer id', (t) => {
    if (!requireRoot(t)) return
    assert.ok(existsSync(child), child)
    const ns = `dmsnet-mdns-${process.pid}`
    const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'pipe' }) }
    ip('netns', 'add', ns)
    try {
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      ip('-n', ns, 'link', 'set', 'lo', 'multicast', 'on')
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'lo')
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv.filter(a => !a.startsWith('--test')), child], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, DMSNET_LOG_LEVEL: 'warn' }
      })
      const line = r.stdout.trim().split('\n').at(-1) ?? ''
      assert.ok(line.startsWith('{'), `child output: ${r.stdout}\n${r.stderr}`)
      const res = JSON.parse(line) as { discovered?: string, connectedTo?: string, expected?: string, error?: string }
      assert.equal(res.error, undefined, res.error)
      assert.equal(res.discovered, res.expected)
      assert.equal(res.connectedTo, res.expected)
    } finally {
      spawnSync('ip', ['netns', 'del', ns])
    }
  })
})

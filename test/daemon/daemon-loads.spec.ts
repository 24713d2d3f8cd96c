/**
 * What a plain `dmsnet up` loads (issue 10: an idle daemon should not hold code it never runs): a
 * real daemon (the CLI, re-executed into the bundle when it is built) listening on loopback TCP
 * only, in no swarm or VPN, with UPnP and mDNS off. A preload records every module URL resolved
 * and Node's list of loaded built-ins; the daemon writes them when it gets SIGUSR2. Not loaded:
 * the managed swarm, the VPN, WebSockets (transport, ws), UPnP, mDNS. Positive control in the
 * same test: `swarm.create` over the control socket loads the swarm's code.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { repoRoot, runCli, startDaemon } from '../cli/helpers.js'
import { waitFor } from '../helpers/wait.js'

const PRELOAD = `
import { registerHooks } from 'node:module'
import { writeFileSync } from 'node:fs'
const urls = new Set()
registerHooks({ resolve (s, c, next) { const r = next(s, c); urls.add(r.url); return r } })
process.on('SIGUSR2', () => {
  const builtins = process.moduleLoadList.filter(m => m.startsWith('NativeModule ')).map(m => m.slice(13))
  writeFileSync(process.env.LOADS_OUT, JSON.stringify({ urls: [...urls], builtins }))
})
`

interface Loads { urls: string[], builtins: string[] }

/** Bundle chunks (or, unbundled, source modules) holding `marker`: how the test names code in hashed chunks. */
function holders (marker: string): string[] {
  const dir = join(repoRoot, 'dist', 'bundle')
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter(f => f.endsWith('.mjs') && readFileSync(join(dir, f), 'utf8').includes(marker)).map(f => pathToFileURL(join(dir, f)).href)
}

test('a plain daemon loads no swarm, VPN, WebSockets, UPnP or mDNS code', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-loads-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const preload = join(dir, 'preload.mjs')
  writeFileSync(preload, PRELOAD)
  const out = join(dir, 'loads.json')
  const data = join(dir, 'data')
  const d = await startDaemon(['--data-dir', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-metrics'], {
    env: { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}`, LOADS_OUT: out }
  })
  t.after(async () => { await d.stop() })

  const snapshot = async (): Promise<Loads> => {
    rmSync(out, { force: true })
    d.child.kill('SIGUSR2')
    await waitFor(() => existsSync(out), 10_000, 'the daemon wrote its loads')
    return JSON.parse(readFileSync(out, 'utf8')) as Loads
  }
  // code by a string only it has (bundle chunks have hashed names), or by its module path unbundled
  const code: Record<string, RegExp | string[]> = {
    swarm: [...holders("'entered swarm'"), ...holders('"entered swarm"')],
    vpn: [...holders('dmsnet_vpn_')],
    websockets: [...holders('libp2p_websockets_dialer_events_total')],
    upnp: [...holders('libp2p:upnp-nat')],
    mdns: [...holders('libp2p:mdns')]
  }
  const bundled = Object.values(code).every(v => Array.isArray(v) && v.length > 0)
  const paths: Record<string, RegExp> = {
    swarm: /\/src\/swarm\/swarm\.js$/,
    vpn: /\/src\/vpn\/vpn\.js$/,
    websockets: /\/@libp2p\/websockets\//,
    upnp: /\/@libp2p\/upnp-nat\//,
    mdns: /\/@libp2p\/mdns\//
  }
  const loaded = (l: Loads, what: string): boolean => {
    const c = code[what]
    return bundled && Array.isArray(c) ? l.urls.some(u => c.includes(u)) : l.urls.some(u => paths[what]!.test(u))
  }

  const before = await snapshot()
  assert.ok(before.urls.length > 0 && before.builtins.includes('net'), 'the preload ran in the daemon')
  for (const what of Object.keys(paths)) assert.equal(loaded(before, what), false, `${what} code loaded by a plain daemon`)

  // positive control: a managed swarm loads the swarm's code in the same daemon
  const r = await runCli(['swarm', 'create', 'loads', '-d', data], { timeoutMs: 30_000 })
  assert.equal(r.code, 0, r.stderr)
  const after = await snapshot()
  assert.equal(loaded(after, 'swarm'), true, 'swarm create loaded the swarm code')
})

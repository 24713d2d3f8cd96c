// The npm package as an operator gets it: `npm run prebuild` + `npm pack`, then
// `npm install -g --ignore-scripts` (no compile step, as on a machine without a compiler) into a
// temporary prefix, and the installed `dmsnet` (found on PATH) runs `init`, `up` and the VPN (a real
// TUN device) in two network namespaces this test creates. The addon must come from prebuilds/;
// without it the loader's error names the fix, and that fix (`npm rebuild -g dmsnet`) compiles it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireRoot } from '../helpers/root.js'
import { repoRoot } from '../cli/helpers.js'
import { createVpnWorld, type VpnNodeProc } from '../e2e/vpn-harness.js'
import { pause } from '../helpers/wait.js'
import { ok, run } from './run.js'

test('the packed tarball installs without scripts and its dmsnet runs init, up and the VPN', { timeout: 300_000 }, async (t) => {
  if (!requireRoot(t)) return
  const tmp = mkdtempSync(join(tmpdir(), 'dmsnet-install-'))
  t.after(() => { rmSync(tmp, { recursive: true, force: true }) })
  // npm itself may run on an older system Node; the package and the prebuild use this Node (22)
  const nodeBin = join(tmp, 'node-bin')
  mkdirSync(nodeBin)
  const node22 = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : join(repoRoot, 'node_modules', '.bin', 'node')
  symlinkSync(node22, join(nodeBin, 'node'))
  const buildEnv = { ...process.env, PATH: `${nodeBin}:${join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` }

  // the prepack script's steps, minus the full rebuild the suite already did
  await ok('npm', ['run', 'prebuild', '--silent'], { cwd: repoRoot, env: buildEnv })
  const packed = JSON.parse(await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: repoRoot, env: buildEnv })) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed[0]!.files.map(f => f.path)
  assert.ok(files.includes('prebuilds/linux-x64/node.napi.glibc.node'), 'the tarball carries the prebuilt addon')
  assert.ok(!files.some(f => f.startsWith('build/')), 'no local build output in the tarball')
  assert.ok(files.some(f => f.startsWith('dist/ui/')), 'the status page assets are in the tarball')

  const prefix = join(tmp, 'prefix')
  await ok('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--no-audit', '--no-fund', join(tmp, packed[0]!.filename)], { env: buildEnv, timeoutMs: 180_000 })
  const pkgDir = join(prefix, 'lib', 'node_modules', 'dmsnet')
  assert.equal(existsSync(join(pkgDir, 'build')), false, 'nothing was compiled at install')
  // an operator's shell: the installed bin dir and Node 22, nothing from this checkout
  const env = { PATH: `${nodeBin}:${join(prefix, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: tmp, DMSNET_LOG_LEVEL: 'warn' }

  const world = await createVpnWorld(t, ['a', 'b'], { spawn: false })
  const daemons: Array<{ stop: () => Promise<void> }> = []
  t.after(async () => {
    for (const d of daemons) await d.stop()
    await world.cleanup()
  })
  const [a, b] = world.nodes as [VpnNodeProc, VpnNodeProc]
  const dmsnet = async (n: VpnNodeProc, args: string[]): Promise<string> => await ok('ip', ['netns', 'exec', n.ns, 'dmsnet', '--data-dir', n.dataDir, ...args], { env, timeoutMs: 60_000 })

  const ids: string[] = []
  for (const n of [a, b]) {
    const init = JSON.parse(await dmsnet(n, ['init', '--listen', `/ip4/${n.underlayIp}/tcp/4001`, '--json'])) as { peerId: string }
    ids.push(init.peerId)
    const child = spawn('ip', ['netns', 'exec', n.ns, 'dmsnet', '--data-dir', n.dataDir, 'up'], {
      env: n === b ? { ...env, DMSNET_VPN_ACCEPT_INVITES_FROM: ids[0]! } : env, stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    let err = ''
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const exited = new Promise<number | null>(resolve => child.on('close', code => { resolve(code) }))
    daemons.push({
      stop: async () => {
        if (child.exitCode != null || child.signalCode != null) return
        child.kill('SIGINT')
        const timer = setTimeout(() => { child.kill('SIGKILL') }, 15_000)
        await exited
        clearTimeout(timer)
      }
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`installed dmsnet up in ${n.ns} not ready: ${err.slice(-2000)}`)) }, 60_000)
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('dmsnet: ready')) { clearTimeout(timer); resolve() } })
      void exited.then(code => { clearTimeout(timer); reject(new Error(`installed dmsnet up in ${n.ns} exited ${code}: ${err.slice(-2000)}`)) })
    })
  }
  const [idA, idB] = ids as [string, string]
  await dmsnet(a, ['connect', `/ip4/${b.underlayIp}/tcp/4001/p2p/${idB}`])
  const up = JSON.parse(await dmsnet(a, ['vpn', 'up', idB, '--json'])) as { state: string, peers: Array<{ peerId: string, ipv4: string }> }
  assert.equal(up.state, 'running')
  const ipB = up.peers.find(p => p.peerId === idB)!.ipv4
  // the member brings its TUN device up on its own; ping until it answers (bounded)
  let pinged: { address: string, rtts: number[] } | undefined
  for (let i = 0; i < 30 && pinged == null; i++) {
    const r = await run('ip', ['netns', 'exec', a.ns, 'dmsnet', '--data-dir', a.dataDir, 'vpn', 'ping', idB, '-c', '1', '--json'], { env, timeoutMs: 30_000 })
    if (r.code === 0) pinged = JSON.parse(r.stdout) as { address: string, rtts: number[] }
    else await pause(500) // pacing between pings of a bounded retry until the member's device is up
  }
  assert.equal(pinged?.address, ipB, 'ping over the VPN (TUN devices on both nodes) from the installed package')
  assert.match(await ok('ip', ['netns', 'exec', a.ns, 'ip', '-o', 'link', 'show', 'dmsnet0']), /dmsnet0/)

  // the installed package serves its bundled status page: `dmsnet ui`'s link, then the page and its script
  const login = JSON.parse(await dmsnet(a, ['ui', '--json'])) as { url: string, origin: string }
  const browse = `const r = await fetch(${JSON.stringify(login.url)}, { redirect: 'manual' });
    const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0];
    const page = await fetch(${JSON.stringify(login.origin + '/')}, { headers: { cookie } });
    const js = await fetch(${JSON.stringify(login.origin + '/app.js')}, { headers: { cookie } });
    console.log(JSON.stringify({ login: r.status, page: page.status, html: await page.text(), js: js.status, jsBytes: (await js.arrayBuffer()).byteLength }))`
  const got = JSON.parse(await ok('ip', ['netns', 'exec', a.ns, 'node', '--input-type=module', '-e', browse], { env })) as { login: number, page: number, html: string, js: number, jsBytes: number }
  assert.equal(got.login, 303)
  assert.equal(got.page, 200)
  assert.match(got.html, /<script type="module" src="\/app.js">/)
  assert.equal(got.js, 200)
  assert.ok(got.jsBytes > 5000, `app.js is the bundle (${got.jsBytes} bytes)`)

  // `dmsnet stop` ends a daemon (the other one is stopped by SIGINT in the cleanup)
  await dmsnet(b, ['stop'])
  await daemons[1]!.stop()
  assert.equal(idA.length > 0, true)

  // without the prebuilt binary (and nothing compiled) the loader names the fix
  const arch = join(pkgDir, 'prebuilds', 'linux-x64')
  assert.equal(readdirSync(arch).length, 1)
  renameSync(arch, `${arch}.off`)
  const r = await run('node', ['--input-type=module', '-e', `import('${join(pkgDir, 'dist/src/netdev/native-loader.js')}').then(m => m.loadAddon())`], { env })
  assert.notEqual(r.code, 0)
  assert.match(r.stderr, /NativeBindingError: the TUN addon is neither compiled nor shipped prebuilt/)
  assert.match(r.stderr, /npm rebuild -g dmsnet/)

  // ...and the fix it names works where a compiler exists: the package's install script compiles it
  await ok('npm', ['rebuild', '-g', '--prefix', prefix, 'dmsnet', '--foreground-scripts'], { env: buildEnv, timeoutMs: 180_000 })
  const fixed = await ok('node', ['--input-type=module', '-e', `import('${join(pkgDir, 'dist/src/netdev/native-loader.js')}').then(m => console.log(m.addonPath(), typeof m.loadAddon().Tun))`], { env })
  assert.equal(fixed.trim(), `${join(pkgDir, 'build', 'Release', 'dmsnet_tun.node')} function`)
})

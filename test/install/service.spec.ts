// `dmsnet service install|uninstall|print`: the systemd unit written into a temporary unit dir
// (no systemctl: the test machine does not run systemd), checked for its hardening and, where
// systemd-analyze exists, verified by systemd's own parser.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../cli/helpers.js'

function line (unit: string, key: string): string[] {
  return unit.split('\n').filter(l => l.startsWith(`${key}=`)).map(l => l.slice(key.length + 1))
}

test('service install writes a hardened unit, uninstall removes it; bad input is a usage error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-unit-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })

  const r = await runCli(['service', 'install', '--unit-dir', dir, '--no-systemctl', '--json'])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout) as { unit: string, ran: string[], dataDir: string }
  assert.equal(out.unit, join(dir, 'dmsnet.service'))
  assert.deepEqual(out.ran, [])
  const unit = readFileSync(out.unit, 'utf8')
  assert.deepEqual(line(unit, 'CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE'])
  assert.deepEqual(line(unit, 'AmbientCapabilities'), ['CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE'])
  assert.deepEqual(line(unit, 'DynamicUser'), ['yes'])
  assert.deepEqual(line(unit, 'StateDirectory'), ['dmsnet'])
  assert.deepEqual(line(unit, 'ProtectSystem'), ['strict'])
  assert.deepEqual(line(unit, 'NoNewPrivileges'), ['yes'])
  assert.deepEqual(line(unit, 'DeviceAllow'), ['/dev/net/tun rw'])
  assert.deepEqual(line(unit, 'RestrictNamespaces'), ['yes'])
  const [node, bin, verb] = line(unit, 'ExecStart')[0]!.split(' ')
  assert.equal(node, process.execPath)
  assert.ok(bin != null && bin.endsWith('/bin/dmsnet.js') && existsSync(bin), `ExecStart runs this package's bin: ${bin}`)
  assert.equal(verb, 'up')

  if (existsSync('/usr/bin/systemd-analyze')) {
    const v = spawnSync('systemd-analyze', ['verify', out.unit], { encoding: 'utf8' })
    assert.equal(v.status, 0, `systemd-analyze verify: ${v.stderr}`)
    assert.equal(v.stderr.trim(), '', 'systemd reports no unknown or invalid settings')
  } else {
    process.stderr.write('\n*** systemd-analyze missing: unit syntax not verified by systemd ***\n')
  }

  // the netns variant adds exactly CAP_SYS_ADMIN and lifts the namespace restriction
  const netns = await runCli(['service', 'print', '--allow-netns', '--user', 'dmsnet', '--name', 'dmsnet-jobs'])
  assert.equal(netns.code, 0, netns.stderr)
  assert.deepEqual(line(netns.stdout, 'CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SYS_ADMIN'])
  assert.deepEqual(line(netns.stdout, 'User'), ['dmsnet'])
  assert.deepEqual(line(netns.stdout, 'DynamicUser'), [])
  assert.deepEqual(line(netns.stdout, 'RestrictNamespaces'), [])
  assert.deepEqual(line(netns.stdout, 'StateDirectory'), ['dmsnet-jobs'])
  const asJson = await runCli(['service', 'print', '--json'])
  assert.equal(asJson.code, 0, asJson.stderr)
  assert.deepEqual(line((JSON.parse(asJson.stdout) as { unit: string }).unit, 'CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE'])

  const bad = await runCli(['service', 'install', '--unit-dir', dir, '--no-systemctl', '--name', '../etc/x'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--name: got "\.\.\/etc\/x"/)
  assert.equal(existsSync(join(dir, '..', 'etc')), false)

  const un = await runCli(['service', 'uninstall', '--unit-dir', dir, '--no-systemctl'])
  assert.equal(un.code, 0, un.stderr)
  assert.equal(existsSync(out.unit), false)
  assert.match(un.stdout, /kept the data dir \/var\/lib\/dmsnet/)
  const again = await runCli(['service', 'uninstall', '--unit-dir', dir, '--no-systemctl'])
  assert.equal(again.code, 1)
  assert.match(again.stderr, /does not exist: nothing to uninstall/)
})

/**
 * TurboFan on demand (src/daemon/memory-jit.ts, `memory.turbofanCpuPct`, node flag `--max-opt=2`):
 *
 * - the gate's rule, with an injected CPU clock: below the threshold it stays closed over many
 *   checks; one check at or above it raises once; the VPN loaded raises; 0 raises at start; a
 *   process started without the limit never calls the raise;
 * - on a real V8: a hot function in a `node --max-opt=2` process is not TurboFan-optimised, and is
 *   once `raiseOptimizationTier()` ran (the positive control of the flag being in force: before);
 * - `dmsnet up` applies it: by default (no `--max-opt`) TurboFan is on ('flags'); with `--max-opt=2`
 *   in `DMSNET_NODE_FLAGS` the daemon runs with the flag and reports the gate closed at idle, and
 *   `DMSNET_MEMORY_TURBOFAN_CPU_PCT=0` opens it at start.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createJitGate, turbofanLimited } from '../../src/daemon/memory-jit.js'
import { runCli, startDaemon } from '../cli/helpers.js'

test('the gate opens once, at the CPU threshold, for the VPN, or at start with 0', () => {
  let cpu = 0
  let t = 0
  let raised = 0
  let vpn = false
  const gate = createJitGate({ cpuPct: 25, limited: true, cpuMicros: () => cpu, now: () => t, raise: () => { raised++ }, wanted: () => vpn, utilization: () => 0.01 })
  gate.start()
  gate.stop() // the timer is not what is tested: checks are driven by hand
  // the first window is start-up's (the bundle compiled, libp2p started): not judged
  t += 5000
  cpu += 5000 * 1000
  gate.check()
  assert.equal(raised, 0, 'start-up counted')
  for (let i = 0; i < 50; i++) {
    t += 5000
    cpu += 5000 * 1000 * 0.2 // 20 % of a core over the 5-s check
    gate.check()
  }
  assert.equal(raised, 0)
  assert.equal(gate.status().turbofan, 'on demand')
  t += 5000
  cpu += 5000 * 1000 * 0.25
  gate.check()
  assert.equal(raised, 1)
  assert.deepEqual([gate.status().turbofan, gate.status().turbofanReason], ['on', 'cpu'])
  t += 5000
  cpu += 5000 * 1000
  gate.check()
  assert.equal(raised, 1, 'raised once only')

  const viaVpn = createJitGate({ cpuPct: 25, limited: true, cpuMicros: () => 0, now: () => 0, raise: () => { raised++ }, wanted: () => vpn, utilization: () => 0.01 })
  viaVpn.start()
  viaVpn.stop()
  viaVpn.check()
  viaVpn.check()
  assert.equal(viaVpn.status().turbofan, 'on demand')
  vpn = true
  viaVpn.check()
  assert.deepEqual([raised, viaVpn.status().turbofanReason], [2, 'vpn'])

  const atStart = createJitGate({ cpuPct: 0, limited: true, raise: () => { raised++ } })
  atStart.start()
  assert.deepEqual([raised, atStart.status().turbofanReason], [3, 'start'])

  const unlimited = createJitGate({ cpuPct: 0, limited: false, raise: () => { raised++ } })
  unlimited.start()
  assert.deepEqual([raised, unlimited.status().turbofan, unlimited.status().turbofanReason], [3, 'on', 'flags'])

  assert.equal(turbofanLimited(['--v8-pool-size=1', '--max-opt=2']), true)
  assert.equal(turbofanLimited(['--max-opt=2', '--max-opt=999']), false)
  assert.equal(turbofanLimited(['--v8-pool-size=1']), false)
})

test('the gate opens after 3 checks in a row with the event loop busy >= 5 %, whatever the CPU share; not on scattered busy checks', () => {
  let elu = 0
  let t = 0
  let raised = 0
  // 1 % of a core: a daemon on a host short of CPU (N=100 on two cores) never reaches 25 %
  const gate = createJitGate({ cpuPct: 25, limited: true, cpuMicros: () => t * 10, now: () => t, raise: () => { raised++ }, utilization: () => elu })
  gate.start()
  gate.stop()
  const tick = (u: number): void => { t += 5000; elu = u; gate.check() }
  tick(0.9) // start-up's window: not judged
  for (let k = 0; k < 10; k++) { tick(0.3); tick(0.3); tick(0.01) }
  assert.equal(raised, 0, 'two busy checks in a row, ten times: an idle daemon\'s periodic jobs')
  tick(0.06); tick(0.06)
  assert.equal(gate.status().turbofan, 'on demand')
  tick(0.06)
  assert.deepEqual([raised, gate.status().turbofan, gate.status().turbofanReason], [1, 'on', 'busy'])
})

test('on a real V8, --max-opt=2 keeps TurboFan off and raiseOptimizationTier() turns it on', () => {
  const jit = new URL('../../src/daemon/memory-jit.js', import.meta.url).href
  // %GetOptimizationStatus bit 6: TurboFan code; bit 4: optimised at all. Bounded: at most 400 rounds.
  const script = `
    const { raiseOptimizationTier } = await import(${JSON.stringify(jit)})
    function hot (n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i * 7) | 0; return s }
    const turbofanned = () => (%GetOptimizationStatus(hot) & (1 << 6)) !== 0
    const rounds = () => { for (let r = 0; r < 400; r++) { for (let k = 0; k < 200; k++) hot(1000); if (turbofanned()) return r } return -1 }
    const before = rounds()
    raiseOptimizationTier()
    const after = rounds()
    console.log(JSON.stringify({ before, after }))
  `
  const r = spawnSync(process.execPath, ['--max-opt=2', '--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, r.stderr)
  const { before, after } = JSON.parse(r.stdout) as { before: number, after: number }
  assert.equal(before, -1, 'TurboFan ran under --max-opt=2')
  assert.ok(after >= 0, 'not TurboFan-optimised after the raise')
})

test('dmsnet up: TurboFan on by default; with --max-opt=2 in DMSNET_NODE_FLAGS the gate is closed at idle, and 0 opens it at start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-jit-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const args = (d: string): string[] => ['--data-dir', d, '--listen', '/ip4/127.0.0.1/tcp/0', '--metrics-port', '0']
  const status = async (d: string): Promise<{ turbofan?: string, turbofanReason?: string | null }> => {
    const r = await runCli(['--data-dir', d, 'status', '--json'])
    assert.equal(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout) as { modules: { memory?: { turbofan?: string, turbofanReason?: string | null } } }).modules.memory ?? {}
  }
  const limited = '--v8-pool-size=1 --initial-old-space-size=64 --no-incremental-marking-task --max-opt=2'
  const cases = [
    ['default', {}, ['on', 'flags'], false],
    ['limited', { DMSNET_NODE_FLAGS: limited }, ['on demand', null], true],
    ['zero', { DMSNET_NODE_FLAGS: limited, DMSNET_MEMORY_TURBOFAN_CPU_PCT: '0' }, ['on', 'start'], true]
  ] as const
  for (const [name, env, want, flagged] of cases) {
    const d = await startDaemon(args(join(dir, name)), { env: { DMSNET_UI_ENABLED: 'false', ...env } })
    try {
      // the re-exec keeps the pid: its command line is the daemon's
      const argv = readFileSync(`/proc/${d.child.pid}/cmdline`, 'utf8').split('\0')
      assert.equal(argv.includes('--max-opt=2'), flagged, `daemon argv: ${argv.join(' ')}`)
      const s = await status(join(dir, name))
      assert.deepEqual([s.turbofan, s.turbofanReason], want, name)
    } finally {
      assert.equal(await d.stop(), 0)
    }
  }
})

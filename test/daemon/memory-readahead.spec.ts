/**
 * Read-only file mappings without read-ahead (issue 10, stop 33; `memory.reclaim.fileReadahead`,
 * src/daemon/memory-filepages.ts): which mappings get MADV_RANDOM and what the status says (an
 * smaps text), the advice given for real through the addon (native/mem/mem.c) to this test
 * process (its smaps VmFlags), and a real `dmsnet up` whose status says `binaryReadahead: random`,
 * or `kernel` with the setting off.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, realpathSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { adviseRandomReadahead, binaryReadahead, parseSmaps, processReadahead } from '../../src/daemon/memory-filepages.js'
import { adviseRange } from '../../src/daemon/memory-native.js'
import { runCli, startDaemon } from '../cli/helpers.js'

const vma = (range: string, perms: string, path: string, flags: string): string =>
  `${range} ${perms} 00000000 fe:00 123    ${path}\nRss: 4 kB\nAnonymous: 0 kB\nVmFlags: ${flags}\n`

test('binaryReadahead and adviseRandomReadahead: private read-only file mappings, nothing writable, shared or in /dev', () => {
  const vmas = parseSmaps([
    vma('00400000-00e37000', 'r--p', '/usr/bin/node', 'rd mr mw me sd'),
    vma('00e37000-032e7000', 'r-xp', '/usr/bin/node', 'rd ex mr mw me rr sd'),
    vma('06b15000-06b3e000', 'rw-p', '/usr/bin/node', 'rd wr mr mw me ac sd'),
    // V8's copy of its builtins, mapped from the binary at start
    vma('7e0000000000-7e0000200000', 'r-xp', '/usr/bin/node', 'rd ex mr mw me sd'),
    vma('7f0000600000-7f0000700000', 'r-xp', '/usr/lib/sodium.node', 'rd ex mr mw me sd'),
    vma('7f0000700000-7f0000800000', 'rw-p', '/usr/lib/sodium.node', 'rd wr mr mw me ac sd'),
    vma('7f0000800000-7f0000900000', 'r--s', '/dev/shm/x', 'rd mr me ms sd'),
    vma('7f0000900000-7f0000a00000', 'r--p', '/usr/lib/gone.so (deleted)', 'rd mr mw me sd'),
    vma('7ffd00000000-7ffd00002000', 'r-xp', '[vdso]', 'rd ex mr mw me de sd')
  ].join(''))
  assert.equal(binaryReadahead(vmas, '/usr/bin/node'), 'mixed', 'one of three read-only mappings advised; the writable one does not count')
  const advised: string[] = []
  assert.equal(adviseRandomReadahead(vmas, (start) => { advised.push(start.toString(16)); return start === 0x7f0000600000 ? 22 : 0 }), 2, 'a refusal (EINVAL) is not counted')
  assert.deepEqual(advised, ['400000', '7e0000000000', '7f0000600000'], 'those without rr yet')
  assert.equal(binaryReadahead(parseSmaps(vma('00400000-00e37000', 'r--p', '/usr/bin/node', 'rd mr mw me sd')), '/usr/bin/node'), 'kernel')
  assert.equal(binaryReadahead(parseSmaps(vma('00400000-00e37000', 'r--p', '/usr/bin/node', 'rd mr rr')), '/usr/bin/node'), 'random')
  assert.equal(binaryReadahead(vmas, '/usr/local/bin/node'), 'unknown')
})

test('processReadahead: advises once, reads the status once (not an unreadable smaps), does nothing without the addon', () => {
  let text = vma('00400000-00e37000', 'r--p', '/usr/bin/node', 'rd mr mw me sd')
  let reads = 0
  const smaps = (): string => { reads++; if (text === '') throw new Error('EMFILE'); return text }
  const advised: number[] = []
  const ra = processReadahead((start, _length, advice) => { assert.equal(advice, 'random'); advised.push(start); return 0 }, smaps, () => '/usr/bin/node')
  assert.equal(ra.status(), 'kernel')
  assert.equal(ra.random(), 1)
  assert.deepEqual(advised, [0x400000])
  assert.equal(ra.random(), 0, 'once per process')
  text = vma('00400000-00e37000', 'r--p', '/usr/bin/node', 'rd mr mw me rr sd')
  assert.equal(ra.status(), 'random', 'read again after the advice')
  const before = reads
  assert.equal(ra.status(), 'random')
  assert.equal(reads, before, 'and then kept')

  text = ''
  const flaky = processReadahead(undefined, smaps, () => '/usr/bin/node')
  assert.equal(flaky.random(), 0, 'no addon: nothing advised')
  assert.equal(flaky.status(), 'unknown')
  text = vma('00400000-00e37000', 'r--p', '/usr/bin/node', 'rd mr mw me sd')
  assert.equal(flaky.status(), 'kernel', 'an unreadable smaps is read again')

  // the binary replaced on disk under the running process: no mapping of execPath, and that is kept
  text = vma('00400000-00e37000', 'r--p', '/usr/bin/node (deleted)', 'rd mr mw me sd')
  const replaced = processReadahead(undefined, smaps, () => '/usr/bin/node')
  assert.equal(replaced.status(), 'unknown')
  const n = reads
  assert.equal(replaced.status(), 'unknown')
  assert.equal(reads, n, 'not parsed again at every status call')
})

test('processReadahead: the addon\'s MADV_RANDOM on this process: every read-only mapping of the binary carries rr', { skip: process.platform !== 'linux' && 'Linux only (/proc, madvise)' }, () => {
  const advise = adviseRange()
  assert.ok(advise != null, 'the addon loads here')
  const ra = processReadahead(advise)
  const exe = realpathSync(process.execPath)
  const flags = (): string[] => parseSmaps(readFileSync('/proc/self/smaps', 'utf8')).filter(v => v.path === exe && v.perms[1] === '-').map(v => v.flags.includes('rr') ? 'rr' : '-')
  ra.random()
  assert.ok(flags().length >= 2, 'the binary is mapped')
  assert.deepEqual(flags().filter(f => f !== 'rr'), [], `MADV_RANDOM on all of them: ${flags().join(',')}`)
  assert.equal(ra.status(), 'random')
  assert.equal(advise(4096, 4096, 'random'), 12, 'an unmapped range: ENOMEM from the kernel, not a crash')
})

test('a real `dmsnet up`: its binary without read-ahead by default, with the kernel\'s when fileReadahead=kernel', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-readahead-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  for (const [mode, want] of [[undefined, 'random'], ['kernel', 'kernel']] as const) {
    const d = join(dir, mode ?? 'default')
    const daemon = await startDaemon(['--data-dir', d, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-metrics'], { env: { DMSNET_UI_ENABLED: 'false', ...(mode != null ? { DMSNET_MEMORY_RECLAIM_FILE_READAHEAD: mode } : {}) } })
    try {
      const r = await runCli(['--data-dir', d, 'status', '--json'])
      assert.equal(r.code, 0, r.stderr)
      const memory = (JSON.parse(r.stdout) as { modules: { memory: { binaryReadahead?: string } } }).modules.memory
      // random: every read-only mapping of the binary, V8's late copy of its builtins included
      assert.equal(memory.binaryReadahead, want, `memory.reclaim.fileReadahead=${mode ?? '(default)'}`)
      // and the kernel agrees: the daemon's own smaps
      const exe = realpathSync(`/proc/${daemon.child.pid!}/exe`)
      const own = parseSmaps(readFileSync(`/proc/${daemon.child.pid!}/smaps`, 'utf8')).filter(v => v.path === exe && v.perms[1] === '-')
      assert.ok(own.length >= 2, 'the binary is mapped')
      assert.equal(own.every(v => v.flags.includes('rr')), want === 'random', own.map(v => v.flags.join(' ')).join(' | '))
    } finally {
      await daemon.stop()
    }
  }
})

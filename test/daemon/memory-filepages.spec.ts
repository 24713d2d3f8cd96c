/**
 * The idle reclaim's release of read-only file pages (src/daemon/memory-filepages.ts, the addon's
 * adviseRange in native/mem/mem.c): which mappings of an smaps text it may advise (every rule
 * against a mapping it must leave alone), the addon refusing bad ranges, and MADV_DONTNEED on this
 * very test process: its file-backed RSS drops, and the code it unmapped still runs (the pages come
 * back from the page cache); MADV_PAGEOUT on a process that runs its own copy of the node binary
 * (as on a host of its own): the pages leave it, and it still runs.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { execFile } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { filePageReleaser, parseSmaps, releasableVmas } from '../../src/daemon/memory-filepages.js'
import { adviseRange } from '../../src/daemon/memory-native.js'

const vma = (range: string, perms: string, path: string, kb: Record<string, number>, flags = 'rd mr mw me sd'): string =>
  `${range} ${perms} 00000000 fe:00 123    ${path}\n` + Object.entries(kb).map(([k, v]) => `${k}: ${v} kB`).join('\n') + `\nVmFlags: ${flags}\n`

const SMAPS = [
  vma('00400000-00e37000', 'r--p', '/usr/bin/node', { Rss: 7452, Anonymous: 0, Swap: 0 }),
  vma('00e37000-032e7000', 'r-xp', '/usr/bin/node', { Rss: 25028, Anonymous: 0, Swap: 0 }, 'rd ex mr mw me sd'),
  // RELRO: read-only now, but the dynamic linker wrote it: a copy-on-write page
  vma('06b11000-06b15000', 'r--p', '/usr/bin/node', { Rss: 16, Anonymous: 8, Swap: 0 }),
  vma('06b15000-06b3e000', 'rw-p', '/usr/bin/node', { Rss: 164, Anonymous: 128, Swap: 0 }, 'rd wr mr mw me ac sd'),
  vma('7f0000000000-7f0000100000', 'rw-p', '', { Rss: 1024, Anonymous: 1024, Swap: 0 }, 'rd wr mr mw me ac sd'),
  vma('7f0000100000-7f0000200000', 'r--p', '/usr/lib/libc.so.6', { Rss: 0, Anonymous: 0, Swap: 0 }),
  vma('7f0000200000-7f0000300000', 'r--p', '/usr/lib/gone.so (deleted)', { Rss: 64, Anonymous: 0, Swap: 0 }),
  vma('7f0000300000-7f0000400000', 'r--s', '/dev/shm/x', { Rss: 64, Anonymous: 0, Swap: 0 }, 'rd mr me sd'),
  vma('7f0000400000-7f0000500000', 'r--p', '/usr/lib/locked.so', { Rss: 64, Anonymous: 0, Swap: 0 }, 'rd mr mw me lo sd'),
  vma('7f0000500000-7f0000600000', 'r--s', '/usr/share/data.bin', { Rss: 64, Anonymous: 0, Swap: 0 }, 'rd mr me ms sd'),
  vma('7f0000600000-7f0000700000', 'r-xp', '/usr/lib/libssl.so.3', { Rss: 512, Anonymous: 0, Swap: 0 }, 'rd ex mr mw me sd'),
  vma('7ffd00000000-7ffd00002000', 'r-xp', '[vdso]', { Rss: 8, Anonymous: 0, Swap: 0 }, 'rd ex mr mw me de sd')
].join('')

test('only private, read-only, file-backed mappings without an anonymous (copy-on-write) page are releasable', () => {
  const all = parseSmaps(SMAPS)
  assert.equal(all.length, 12)
  assert.deepEqual(all[1], { start: 0xe37000, end: 0x32e7000, perms: 'r-xp', path: '/usr/bin/node', kb: { Rss: 25028, Anonymous: 0, Swap: 0 }, flags: ['rd', 'ex', 'mr', 'mw', 'me', 'sd'] })
  const picked = releasableVmas(all).map(v => `${v.path} ${v.perms} ${v.start.toString(16)}`)
  // left out, each for its rule: RELRO (anonymous page), writable, anonymous, nothing resident,
  // deleted file, /dev, locked, shared, [vdso]
  assert.deepEqual(picked, ['/usr/bin/node r--p 400000', '/usr/bin/node r-xp e37000', '/usr/lib/libssl.so.3 r-xp 7f0000600000'])
})

test('the releaser advises each picked mapping once and counts what the kernel refused', () => {
  const calls: string[] = []
  const release = filePageReleaser({
    advice: 'dontneed',
    smaps: () => SMAPS,
    fileRss: () => 0,
    advise: (start, length, advice) => { calls.push(`${start.toString(16)}+${length.toString(16)} ${advice}`); return start === 0x7f0000600000 ? 22 : 0 }
  })
  const r = release()
  assert.deepEqual(calls, ['400000+a37000 dontneed', 'e37000+24b0000 dontneed', '7f0000600000+100000 dontneed'])
  assert.equal(r!.vmas, 2)
  assert.equal(r!.errors, 1)
  assert.equal(r!.residentBytes, (7452 + 25028) * 1024)
})

test('after a release, the releaser notes where file-backed RSS settled, and runs again only minRegrowthBytes above it', () => {
  let file = 50
  let calls = 0
  const release = filePageReleaser({
    advice: 'pageout',
    smaps: () => SMAPS,
    fileRss: () => file,
    minRegrowthBytes: 16,
    advise: () => { calls++; file = 10; return 0 }
  })
  assert.equal(release()?.droppedBytes, 40)
  assert.equal(calls, 3, 'the 3 releasable mappings')
  file = 28 // the working set and fault-around came back: where it settles, noted, no release
  assert.equal(release(), undefined)
  file = 40 // 12 above the settled level: still nothing
  assert.equal(release(), undefined)
  assert.equal(calls, 3)
  file = 45 // 17 above: released again
  assert.equal(release()?.droppedBytes, 35)
  assert.equal(calls, 6)
  file = 30
  assert.equal(release(), undefined, 'and the next call notes the new settled level')
})

const advise = adviseRange()
const fileKb = (): number => {
  const s = readFileSync('/proc/self/status', 'utf8')
  return Number(/^RssFile:\s+(\d+)/m.exec(s)![1])
}

test('the addon refuses a misaligned range and an unknown advice (EINVAL), and takes a real one', { skip: advise == null ? 'no addon / not Linux' : false }, () => {
  const own = releasableVmas(parseSmaps(readFileSync('/proc/self/smaps', 'utf8')))[0]!
  assert.ok(own != null, 'this process maps its node binary read-only')
  assert.equal(advise!(own.start + 1, 4096, 'cold'), 22)
  assert.equal(advise!(own.start, own.end - own.start, 'sideways' as 'cold'), 22)
  // the control: the same range with a real advice
  assert.equal(advise!(own.start, own.end - own.start, 'cold'), 0)
})

test('MADV_DONTNEED on this process: file-backed RSS drops, and the unmapped code still runs', { skip: advise == null ? 'no addon / not Linux' : false }, () => {
  const release = filePageReleaser({ advice: 'dontneed', advise: advise!, smaps: () => readFileSync('/proc/self/smaps', 'utf8') })
  const before = fileKb()
  const r = release()!
  const after = fileKb()
  assert.equal(r.errors, 0)
  assert.ok(r.vmas >= 2 && r.residentBytes > 10 * 1024 * 1024, `advised ${r.vmas} mappings, ${(r.residentBytes / 1048576).toFixed(1)} MB resident`)
  assert.ok(before - after > 10 * 1024, `RssFile ${before} -> ${after} kB`)
  assert.ok(r.droppedBytes > 10 * 1024 * 1024, `dropped ${(r.droppedBytes / 1048576).toFixed(1)} MB`)
  // code and read-only data of node and OpenSSL, faulted back in from the page cache
  assert.equal(createHash('sha256').update('dmsnet').digest('hex').slice(0, 16), 'ad33aa91218d3a2b')
  assert.equal(new Intl.NumberFormat('en-US').format(1234567.5), '1,234,567.5')
  assert.equal(JSON.parse(JSON.stringify({ a: [1, 2, 3] })).a.length, 3)
  assert.ok(fileKb() > after, 'pages came back as they were used')
})

/** A child on `node` that releases its file pages with `advice` and reports RssFile before/after. */
async function releaseInChild (node: string, advice: string): Promise<{ before: number, after: number, droppedBytes: number, errors: number, hash: string }> {
  const fp = new URL('../../src/daemon/memory-filepages.js', import.meta.url).href
  const nat = new URL('../../src/daemon/memory-native.js', import.meta.url).href
  const script = `
    import { filePageReleaser, selfFileRss } from '${fp}'
    import { adviseRange } from '${nat}'
    import { readFileSync } from 'node:fs'
    import { createHash } from 'node:crypto'
    const before = selfFileRss()
    const r = filePageReleaser({ advice: '${advice}', advise: adviseRange(), smaps: () => readFileSync('/proc/self/smaps', 'utf8') })()
    const after = selfFileRss()
    const hash = createHash('sha256').update('dmsnet').digest('hex').slice(0, 16)
    console.log(JSON.stringify({ before, after, droppedBytes: r.droppedBytes, errors: r.errors, hash }))`
  return await new Promise((resolve, reject) => {
    execFile(node, ['--input-type=module', '-e', script], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err != null) reject(new Error(`${err.message}: ${stderr}`))
      else resolve(JSON.parse(stdout))
    })
  })
}

test('MADV_PAGEOUT frees the file pages of a process that is their only mapper (its own copy of node), and it runs on', { skip: advise == null ? 'no addon / not Linux' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-pageout-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const own = join(dir, 'node')
  copyFileSync(process.execPath, own)
  const r = await releaseInChild(own, 'pageout')
  assert.equal(r.errors, 0)
  assert.ok(r.droppedBytes > 15 * 1024 * 1024, `RssFile ${(r.before / 1048576).toFixed(1)} -> ${(r.after / 1048576).toFixed(1)} MB`)
  assert.equal(r.hash, createHash('sha256').update('dmsnet').digest('hex').slice(0, 16), 'code paged out and read back runs')
})

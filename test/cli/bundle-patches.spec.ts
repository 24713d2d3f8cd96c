/**
 * The daemon bundle's patches to dependencies (scripts/bundle-patches.js, issue 10): libp2p's
 * peer-store sorts compare by code unit, so the daemon never builds an ICU collator (~2.9 MB of
 * ICU collation data resident). Checked against the installed dependencies: an upstream change
 * to a patched file fails here, as it fails the build. And node:http is required, not imported, so
 * that loading the daemon does not load Node's bundled undici (~13 MB RSS).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { packageRoot } from '../../src/cli/commands/up/daemon-entry.js'

interface Patches {
  HTTP_EXPORTS: string[]
  CODE_UNIT_SORTS: Record<string, number>
  codeUnitSorts: (source: string, expected: number, file?: string) => string
}

const root = packageRoot()!
const load = async (): Promise<Patches> => await import(pathToFileURL(join(root, 'scripts', 'bundle-patches.js')).href) as Patches

test('bundle patches: every listed peer-store sort is rewritten to a code-unit comparison that orders like < and >', async () => {
  const { CODE_UNIT_SORTS, codeUnitSorts } = await load()
  for (const [file, n] of Object.entries(CODE_UNIT_SORTS)) {
    const out = codeUnitSorts(readFileSync(join(root, 'node_modules', file), 'utf8'), n, file)
    assert.doesNotMatch(out, /localeCompare/, file)
    assert.equal(out.match(/__dmsnetCompareCodeUnits\(/g)?.length, n + 1, file)
  }
  // the rewritten comparator, run: a code-unit order ('/ip4' before '/ip6', 'Z' before 'a'), 0 on equal
  const src = codeUnitSorts('export const s = (x) => x.sort((a, b) => a.toString().localeCompare(b.toString()))', 1)
  const { s } = await import(`data:text/javascript,${encodeURIComponent(src)}`) as { s: (x: string[]) => string[] }
  assert.deepEqual(s(['/ip6/::1', 'a', 'Z', '/ip4/1.2.3.4', 'a']), ['/ip4/1.2.3.4', '/ip6/::1', 'Z', 'a', 'a'])
})

test('bundle patches: a file whose localeCompare calls changed is an error naming it, not a silent skip', async () => {
  const { codeUnitSorts } = await load()
  assert.throws(() => codeUnitSorts('a.localeCompare(b)', 2, 'x.js'), (err: Error) => err.message.startsWith('x.js: expected 2') && /found 1/.test(err.message))
  assert.throws(() => codeUnitSorts('a.localeCompare(b, "de")', 1, 'y.js'), (err: Error) => err.message.startsWith('y.js: expected 1') && /found 0 and others/.test(err.message))
})

test('bundle patches: the http shim exports every plain export of node:http and none of its lazy getters', async () => {
  const { HTTP_EXPORTS } = await load()
  const http = createRequire(import.meta.url)('node:http') as Record<string, unknown>
  const plain = Object.keys(http).filter(k => Object.getOwnPropertyDescriptor(http, k)?.get == null).sort()
  assert.deepEqual([...HTTP_EXPORTS].sort(), plain)
  // the reason for the shim: these getters load undici
  assert.ok(['WebSocket', 'CloseEvent', 'MessageEvent'].every(k => Object.getOwnPropertyDescriptor(http, k)?.get != null))
})

test('the daemon bundle loads without loading Node\'s bundled undici (positive control: an ES import of node:http does)', () => {
  const bundle = join(root, 'dist', 'bundle', 'dmsnet.mjs')
  const probe = (code: string): string => execFileSync(process.execPath, ['--input-type=module', '-e', `${code}; console.log(process.moduleLoadList.some(m => m.includes('undici')))`], { encoding: 'utf8', timeout: 30_000 }).trim()
  assert.equal(probe(`await import(${JSON.stringify(bundle)})`), 'false')
  assert.equal(probe("await import('node:http')"), 'true')
})

interface SourcePatches {
  SOURCE_PATCHES: Record<string, Array<[string | RegExp, string | ((s: string) => string)]>>
  applyPatches: (source: string, patches: Array<[string | RegExp, string | ((s: string) => string)]>, file?: string) => string
  kadPrefixBytes: (refreshJs: string) => Promise<Uint8Array>
  KAD_PREFIXES_FILE: string
}

test('bundle patches: noise without WebAssembly, zod in English only, kad-dht\'s prefix table from a file; each applies to the installed files', async () => {
  const { SOURCE_PATCHES, applyPatches } = await load() as unknown as SourcePatches
  const patched = Object.fromEntries(Object.entries(SOURCE_PATCHES).map(([f, p]) => [f, applyPatches(readFileSync(join(root, 'node_modules', f), 'utf8'), p, f)]))
  const noise = patched['@libp2p/noise/dist/src/crypto/index.js']!
  assert.doesNotMatch(noise, /@chainsafe\/as-|asImpl|newInstance/)
  assert.match(noise, /nodeCrypto\.chaCha20Poly1305Encrypt\(plaintext, nonce, ad, k\)/)
  assert.equal(patched['zod/v4/locales/index.js'], 'export { default as en } from "./en.js";\n')
  assert.doesNotMatch(patched['@libp2p/kad-dht/dist/src/routing-table/refresh.js']!, /generated-prefix-list|GENERATED_PREFIXES\[/)
  // a patch that no longer matches is an error naming the file
  assert.throws(() => applyPatches('nothing here', [['const ctx = newInstance();', '']], 'z.js'), (err: Error) => err.message.startsWith('z.js: expected 1 occurrence') && /found 0/.test(err.message))
})

test('bundle patches: kad-prefixes.bin holds kad-dht\'s generated table, and the built bundle has it and no WebAssembly', async () => {
  const { kadPrefixBytes, KAD_PREFIXES_FILE } = await load() as unknown as SourcePatches
  const dir = join(root, 'node_modules', '@libp2p', 'kad-dht', 'dist', 'src', 'routing-table')
  const list = (await import(pathToFileURL(join(dir, 'generated-prefix-list.js')).href) as { default: number[] }).default
  const bytes = await kadPrefixBytes(join(dir, 'refresh.js'))
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (const i of [0, 1, 4097, 65535]) assert.equal(view.getUint32(i * 4, true), list[i], `entry ${i}`)
  const built = readFileSync(join(root, 'dist', 'bundle', KAD_PREFIXES_FILE))
  assert.deepEqual(new Uint8Array(built), bytes)
  // the reader the patch puts into refresh.js, run from a module next to the bundle (as its chunk is)
  const { SOURCE_PATCHES } = await load() as unknown as SourcePatches
  const reader = SOURCE_PATCHES['@libp2p/kad-dht/dist/src/routing-table/refresh.js']![0]![1] as string
  const probe = join(root, 'dist', 'bundle', `.kad-probe-${process.pid}.mjs`)
  const { writeFileSync, rmSync } = await import('node:fs')
  writeFileSync(probe, `${reader}\nexport { __dmsnetKadPrefix }\n`)
  try {
    const { __dmsnetKadPrefix: read } = await import(pathToFileURL(probe).href) as { __dmsnetKadPrefix: (i: number) => number }
    for (const i of [0, 77, 40000, 65535]) assert.equal(read(i), list[i], `read(${i})`)
    assert.throws(() => read(65536), (err: Error) => /kad-prefixes\.bin: no entry 65536/.test(err.message))
  } finally {
    rmSync(probe, { force: true })
  }
  // this build's files: dmsnet.mjs and the chunks it imports, statically or not (older builds' chunks may lie beside them)
  const chunks = ['dmsnet.mjs']
  for (let i = 0; i < chunks.length; i++) {
    for (const m of readFileSync(join(root, 'dist', 'bundle', chunks[i]!), 'utf8').matchAll(/chunk-[A-Z0-9]+\.mjs/g)) if (!chunks.includes(m[0])) chunks.push(m[0])
  }
  assert.ok(chunks.length > 1, 'code splitting: chunks next to dmsnet.mjs')
  for (const f of chunks) assert.doesNotMatch(readFileSync(join(root, 'dist', 'bundle', f), 'utf8'), /WebAssembly\.(Module|Instance)/, f)
})

#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js) into minified files, dist/bundle/dmsnet.mjs and its chunks,
// for the long-running daemon (issue 10): `dmsnet up` re-executes itself into it (src/cli/commands/
// up/node-flags.ts). Why: V8 keeps the source text of every script it loads, plus a module record
// and a line-end table per script; the daemon loads ~1,060 modules (5.6 MB of source, some of it
// stored two bytes a character because of one non-Latin-1 comment). One minified, ASCII-only script
// holds ~2.5 MB of source. Native addons (our TUN/crypto addon, sodium-native) stay outside: they
// are loaded through createRequire at run time, relative to the package root, which the bundle
// finds as dist/src does (walking up to package.json). `npm run build` runs it after tsc.
// Code splitting: every dynamic import() of the compiled code (the CLI's other commands, the VPN's
// code behind src/daemon/features/vpn.ts) becomes a chunk of its own next to dmsnet.mjs, loaded
// only when that import runs, so the daemon does not hold the source text of code it never runs
// (V8 keeps a script's whole source while the script lives).
// libp2p's peer store sorts addresses, protocols and metadata keys with String#localeCompare only
// to get one canonical order; the first call makes V8 build an ICU collator, which reads the
// collation data of every locale in the node binary's ICU data: ~2.9 MB more resident (file
// pages: a lone daemon's RSS and PSS), ~0.2 MB anonymous. The bundle compares those strings by
// UTF-16 code unit instead (same order for the ASCII multiaddrs, protocol ids and keys, and any
// consistent order does the job); scripts/bundle-patches.js lists the sites, and the build fails
// if one is gone (upstream changed: look again). And node:http is imported through require(): an
// ES import of a built-in makes Node read all its exports, and node:http's WebSocket/CloseEvent/
// MessageEvent getters load Node's bundled undici (~13 MB RSS, 6.5 MB anonymous).
// Usage: node scripts/bundle.js
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { patchPlugin } from './bundle-patches.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outdir = join(root, 'dist', 'bundle')
mkdirSync(outdir, { recursive: true })
// Chunk names carry a content hash. A daemon started before this build loads its chunks later (the
// VPN on its first use), so a rebuild must not delete them under it: chunks of earlier builds stay
// for a day, then go.
const DAY_MS = 24 * 3600 * 1000
for (const f of readdirSync(outdir)) {
  if (/^chunk-[A-Z0-9]+\.mjs$/.test(f) && Date.now() - statSync(join(outdir, f)).mtimeMs > DAY_MS) rmSync(join(outdir, f), { force: true })
}
try {
  await build({
    entryPoints: { dmsnet: join(root, 'dist', 'src', 'cli', 'main.js') },
    outdir,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // one-byte source string in V8 (a single non-Latin-1 character makes the whole script two-byte)
    charset: 'ascii',
    legalComments: 'none',
    external: ['sodium-native', '*.node'],
    // bundled CommonJS dependencies call require() for Node's built-ins
    banner: { js: "import{createRequire as __dmsnetRequire}from'node:module';const require=__dmsnetRequire(import.meta.url);" },
    plugins: [patchPlugin()],
    logLevel: 'warning'
  })
} catch (err) {
  console.error(`bundle: ${err.message}`)
  process.exit(1)
}

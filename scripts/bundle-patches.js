// Source patches the daemon bundle applies to dependencies (scripts/bundle.js says why): each
// names a file under node_modules, what to replace and how many times it must occur, so a change
// upstream fails the build instead of silently dropping the patch.
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))

/** `X.localeCompare(Y)` where X and Y are a name, a property path or a `.toString()` call on one. */
const LOCALE_COMPARE = /([\w$.]+(?:\(\))?)\.localeCompare\(([\w$.]+(?:\(\))?)\)/g
const CODE_UNIT_COMPARE = 'function __dmsnetCompareCodeUnits(a,b){return a<b?-1:a>b?1:0}\n'

/** file (path suffix under node_modules) -> the number of localeCompare calls it must have */
export const CODE_UNIT_SORTS = {
  '@libp2p/peer-store/dist/src/utils/dedupe-addresses.js': 1,
  '@libp2p/peer-store/dist/src/utils/to-peer-pb.js': 2,
  '@libp2p/peer-record/dist/src/peer-record/utils.js': 1
}

/** `source` with its `localeCompare` calls made code-unit comparisons; throws unless exactly `expected` were found. */
export function codeUnitSorts (source, expected, file = 'source') {
  let n = 0
  const out = source.replace(LOCALE_COMPARE, (_m, a, b) => { n++; return `__dmsnetCompareCodeUnits(${a},${b})` })
  if (n !== expected || out.includes('localeCompare')) {
    throw new Error(`${file}: expected ${expected} localeCompare call(s) of the known form, found ${n}${out.includes('localeCompare') ? ' and others' : ''}; see scripts/bundle-patches.js`)
  }
  return CODE_UNIT_COMPARE + out
}

/**
 * `node:http` as a CommonJS require instead of an ES import. Node builds an ES module's namespace
 * of a built-in by reading every export, and `http.WebSocket`, `http.CloseEvent` and
 * `http.MessageEvent` are lazy getters that load Node's whole bundled undici (fetch, WebSocket):
 * ~13 MB more RSS (6.5 MB of it anonymous) in a bare node process, for nothing the daemon uses.
 * `require('node:http')` reads no export. The names are the plain (non-getter) exports of
 * node:http; an import of any other name fails the build ("No matching export").
 */
export const HTTP_EXPORTS = ['_connectionListener', 'METHODS', 'STATUS_CODES', 'Agent', 'ClientRequest', 'IncomingMessage', 'OutgoingMessage', 'Server', 'ServerResponse', 'createServer', 'validateHeaderName', 'validateHeaderValue', 'get', 'request', 'setMaxIdleHTTPParsers']
export const HTTP_SHIM = `const m = require('node:http')\nexport default m\nexport const { ${HTTP_EXPORTS.join(', ')} } = m\n`

/**
 * Plain replacements, each of which must occur exactly once in its file (else the build fails).
 * `@libp2p/noise` instantiates two AssemblyScript WebAssembly modules when it is imported
 * (as-chacha20poly1305 for payloads under 1200 bytes, as-sha256 for nothing the default crypto
 * calls): compiling and running WebAssembly brings V8's wasm decoder, compilers and runtime code
 * into the daemon's resident pages, plus the modules' memories and code: +3 MB RSS (half of it
 * anonymous) in a process that already runs JIT-compiled JS crypto. The bundle sends every payload
 * to node:crypto (OpenSSL), which noise uses from 1200 bytes on: per call 5.9 against 2.6 us at
 * 100 bytes, and already faster from ~500 bytes (7.5 against 8.7 us; 7.4 against 15.7 at 1100).
 */
export const SOURCE_PATCHES = {
  '@libp2p/noise/dist/src/crypto/index.js': [
    ["import { newInstance, ChaCha20Poly1305 } from '@chainsafe/as-chacha20poly1305';\n", ''],
    ["import { digest } from '@chainsafe/as-sha256';\n", ''],
    ['const ctx = newInstance();\nconst asImpl = new ChaCha20Poly1305(ctx);\n', ''],
    ['        return digest(data.subarray());\n', '        return nodeCrypto.hashSHA256(data);\n'],
    ['        return asImpl.seal(k, nonce, plaintext.subarray(), ad);\n', '        return nodeCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k);\n'],
    ['        const plaintext = asImpl.open(k, nonce, ciphertext.subarray(), ad, dst);\n', '        const plaintext = nodeCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst);\n']
  ]
}

/**
 * kad-dht's routing-table refresh looks up one entry of a generated table of 65,536 numbers per
 * random key it makes (a few per refresh, every few minutes). As a module that table is 388 kB of
 * source text plus a 65,536-element array, both held by every daemon for its whole life. The
 * bundle writes it as a binary file next to the bundle (kad-prefixes.bin, 4 bytes little-endian
 * per entry) and reads the one entry it needs when it needs it.
 */
export const KAD_PREFIXES_FILE = 'kad-prefixes.bin'
const KAD_REFRESH = '@libp2p/kad-dht/dist/src/routing-table/refresh.js'
SOURCE_PATCHES[KAD_REFRESH] = [
  ['import GENERATED_PREFIXES from "./generated-prefix-list.js";\n', `import { openSync as __dmsnetOpen, readSync as __dmsnetRead, closeSync as __dmsnetClose } from 'node:fs';
function __dmsnetKadPrefix(i) {
    const fd = __dmsnetOpen(new URL('./${KAD_PREFIXES_FILE}', import.meta.url), 'r');
    try {
        const b = new Uint8Array(4);
        if (__dmsnetRead(fd, b, 0, 4, i * 4) !== 4) throw new Error('${KAD_PREFIXES_FILE}: no entry ' + i);
        return new DataView(b.buffer).getUint32(0, true);
    } finally {
        __dmsnetClose(fd);
    }
}
`],
  ['const keyPrefix = GENERATED_PREFIXES[targetPrefix];', 'const keyPrefix = __dmsnetKadPrefix(targetPrefix);']
]

/** The table kad-dht's refresh.js imports (the module next to it) as the bytes of KAD_PREFIXES_FILE. */
export async function kadPrefixBytes (refreshJs) {
  const list = (await import(pathToFileURL(join(dirname(refreshJs), 'generated-prefix-list.js')).href)).default
  if (!Array.isArray(list) || list.length !== 65536) throw new Error(`${refreshJs}: generated-prefix-list.js is not 65,536 entries any more; see scripts/bundle-patches.js`)
  const out = new Uint8Array(list.length * 4)
  const view = new DataView(out.buffer)
  list.forEach((v, i) => { view.setUint32(i * 4, v, true) })
  return out
}

/**
 * zod re-exports its error messages in ~50 languages (`z.locales`, 258 kB of the bundle's source,
 * most of it non-Latin text escaped); only English is configured (classic/external.js imports
 * locales/en.js itself) and dmsnet never switches. The bundle keeps `z.locales.en` only.
 */
SOURCE_PATCHES['zod/v4/locales/index.js'] = [
  [/^[\s\S]*$/, (all) => {
    if (!all.includes('export { default as en } from "./en.js";')) throw new Error('zod/v4/locales/index.js: no "en" export any more; see scripts/bundle-patches.js')
    return 'export { default as en } from "./en.js";\n'
  }]
]

/**
 * Node's TLS stack (`tls`, `https`) is loaded by four modules the daemon imports but never uses
 * that way (it speaks Noise over TCP): prom-client's Pushgateway (and its `cluster` aggregator),
 * ws (wss client), @libp2p/websockets' wss listener and @achingbrain/ssdp's UPnP description
 * fetch over https. Loading `tls` sets up OpenSSL's TLS side: +2.5 MB RSS (1.9 MB anonymous) in a
 * process that already uses node:crypto. The bundle loads each only on first use.
 */
SOURCE_PATCHES['prom-client/index.js'] = [
  ["exports.Pushgateway = require('./lib/pushgateway');", "Object.defineProperty(exports, 'Pushgateway', { enumerable: true, get: () => require('./lib/pushgateway') });"],
  ["exports.AggregatorRegistry = require('./lib/cluster');", "Object.defineProperty(exports, 'AggregatorRegistry', { enumerable: true, get: () => require('./lib/cluster') });"]
]
SOURCE_PATCHES['ws/lib/websocket.js'] = [
  ["const https = require('https');", "const https = { get request () { return require('https').request; } };"],
  ["const tls = require('tls');", "const tls = { connect: (...args) => require('tls').connect(...args) };"]
]
SOURCE_PATCHES['@libp2p/websockets/dist/src/listener.js'] = [
  ["import https from 'node:https';", "const https = { createServer: (...args) => require('node:https').createServer(...args) };"]
]
SOURCE_PATCHES['@achingbrain/ssdp/dist/src/fetch.js'] = [
  ["import https from 'https';", "const https = { request: (...args) => require('https').request(...args) };"]
]

/**
 * node:child_process (+1.2 MB RSS in a bare process) is loaded at import by commander, which
 * spawns only for executable subcommands (dmsnet has none); the bundle loads it on first spawn.
 */
SOURCE_PATCHES['commander/lib/command.js'] = [
  ["const childProcess = require('node:child_process');", "const childProcess = { spawn: (...args) => require('node:child_process').spawn(...args) };"]
]

/**
 * `assert` (sonic-boom, thread-stream: one call each, on paths the daemon's logger does not take at
 * start) and `zlib` (ws' permessage-deflate) the same way: loaded on first call. Each builtin a
 * process loads costs its source and code cache pages in the node binary plus its compiled code
 * (all three ~0.5 MB RSS in a process that already runs the daemon's other builtins).
 */
const LAZY_ASSERT = "const assert = (...args) => require('assert')(...args)"
SOURCE_PATCHES['sonic-boom/index.js'] = [["const assert = require('assert')", LAZY_ASSERT]]
SOURCE_PATCHES['thread-stream/index.js'] = [["const assert = require('assert')", LAZY_ASSERT]]
SOURCE_PATCHES['ws/lib/permessage-deflate.js'] = [["const zlib = require('zlib');", "const zlib = new Proxy({}, { get: (_t, key) => require('zlib')[key] });"]]

/** `source` with `patches` applied; throws unless each `from` occurs exactly once. */
export function applyPatches (source, patches, file = 'source') {
  let out = source
  for (const [from, to] of patches) {
    if (from instanceof RegExp) { out = out.replace(from, to); continue }
    const n = out.split(from).length - 1
    if (n !== 1) throw new Error(`${file}: expected 1 occurrence of ${JSON.stringify(from.slice(0, 60))}, found ${n}; see scripts/bundle-patches.js`)
    out = out.replace(from, () => to)
  }
  return out
}

/** The esbuild plugin; fails the build if a listed file was never bundled. */
export function patchPlugin () {
  return {
    name: 'dmsnet-patches',
    setup (b) {
      b.onResolve({ filter: /^(node:)?http$/ }, (args) => args.kind === 'import-statement' || args.kind === 'dynamic-import' ? { path: 'node:http', namespace: 'dmsnet-http' } : undefined)
      b.onLoad({ filter: /.*/, namespace: 'dmsnet-http' }, () => ({ contents: HTTP_SHIM, loader: 'js', resolveDir: root }))
      const seen = new Set()
      const files = [...Object.keys(CODE_UNIT_SORTS), ...Object.keys(SOURCE_PATCHES)]
      const filter = new RegExp(`node_modules/(${files.map(f => f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`)
      b.onLoad({ filter }, async (args) => {
        const key = files.find(f => args.path.endsWith(f))
        seen.add(key)
        if (key === KAD_REFRESH) await writeFile(join(b.initialOptions.outdir, KAD_PREFIXES_FILE), await kadPrefixBytes(args.path))
        const source = await readFile(args.path, 'utf8')
        const contents = key in SOURCE_PATCHES ? applyPatches(source, SOURCE_PATCHES[key], args.path) : codeUnitSorts(source, CODE_UNIT_SORTS[key], args.path)
        return { contents, loader: 'js' }
      })
      b.onEnd((result) => {
        const missing = files.filter(f => !seen.has(f))
        if (result.errors.length === 0 && missing.length > 0) {
          return { errors: [{ text: `patched files not in the bundle any more: ${missing.join(', ')} (scripts/bundle-patches.js)` }] }
        }
      })
    }
  }
}

// Source patches the daemon bundle applies to dependencies (scripts/bundle.js says why): each
// names a file under node_modules, what to replace and how many times it must occur, so a change
// upstream fails the build instead of silently dropping the patch.
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

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

/** The esbuild plugin; fails the build if a listed file was never bundled. */
export function patchPlugin () {
  return {
    name: 'dmsnet-patches',
    setup (b) {
      b.onResolve({ filter: /^(node:)?http$/ }, (args) => args.kind === 'import-statement' || args.kind === 'dynamic-import' ? { path: 'node:http', namespace: 'dmsnet-http' } : undefined)
      b.onLoad({ filter: /.*/, namespace: 'dmsnet-http' }, () => ({ contents: HTTP_SHIM, loader: 'js', resolveDir: root }))
      const seen = new Set()
      const files = Object.keys(CODE_UNIT_SORTS)
      const filter = new RegExp(`node_modules/(${files.map(f => f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`)
      b.onLoad({ filter }, async (args) => {
        const key = files.find(f => args.path.endsWith(f))
        seen.add(key)
        return { contents: codeUnitSorts(await readFile(args.path, 'utf8'), CODE_UNIT_SORTS[key], args.path), loader: 'js' }
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

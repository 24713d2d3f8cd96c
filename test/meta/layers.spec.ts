/**
 * The layering rules of src/, checked on the source tree (every import parsed with the TypeScript
 * compiler API: static, `export ... from`, dynamic `import()`, type-only, and `import('x').T`
 * types):
 * - src/network knows no capability, and nothing above it: no import of messaging, swarm, vpn,
 *   control, daemon, cli, node or ui;
 * - the features (messaging, swarm, vpn) know nothing of the daemon, the control API, the CLI or
 *   the status page: their plug-ins live in src/daemon/features;
 * - src/netdev uses only the shared utilities (errors.ts, logging.ts, safe-file.ts, util/);
 * - no cycle between the top-level folders of src/ (a file directly in src/ is its own node);
 * - no file in src/ is over 450 lines.
 * Each failure lists every violation with the file and the import, so it can be fixed from the
 * message alone.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const here = fileURLToPath(new URL('.', import.meta.url))
// test/meta (sources) or dist/test/meta (compiled): the sources are read in both cases
const root = resolve(here, here.includes(`${join('dist', 'test')}`) ? '../../..' : '../..')
const srcDir = join(root, 'src')
const MAX_LINES = 450

function sources (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sources(p))
    else if (/\.tsx?$/.test(p) && !p.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** Every module specifier a file names, with its line. */
function specifiers (file: string, text: string): Array<{ spec: string, line: number }> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS)
  const out: Array<{ spec: string, line: number }> = []
  const add = (lit: ts.Node): void => {
    if (ts.isStringLiteralLike(lit)) out.push({ spec: lit.text, line: sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1 })
  }
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier != null) add(n.moduleSpecifier)
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) add(n.moduleReference.expression)
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] != null) add(n.arguments[0])
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) add(n.argument.literal)
    ts.forEachChild(n, visit)
  }
  visit(sf)
  return out
}

/** The source file a relative specifier points at (`./x.js` -> x.ts / x.tsx / x/index.ts). */
function resolveSpec (from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec)
  const stem = base.replace(/\.(js|jsx|ts|tsx|mjs)$/, '')
  for (const c of [`${stem}.ts`, `${stem}.tsx`, join(base, 'index.ts'), base]) {
    if (existsSync(c) && statSync(c).isFile()) return c
  }
  return undefined
}

/** Top-level node of a file: its folder under src/, or the file's own name for a file directly in src/. */
function areaOf (file: string): string {
  const parts = relative(srcDir, file).split(sep)
  return parts.length === 1 ? parts[0]! : parts[0]!
}

interface Edge { from: string, to: string, line: number }

function importEdges (): Edge[] {
  const edges: Edge[] = []
  for (const file of sources(srcDir)) {
    for (const { spec, line } of specifiers(file, readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue // a package
      const target = resolveSpec(file, spec)
      if (target == null || !target.startsWith(srcDir + sep)) continue
      edges.push({ from: file, to: target, line })
    }
  }
  return edges
}

const edges = importEdges()
const rel = (f: string): string => relative(root, f)
const show = (e: Edge, why: string): string => `${rel(e.from)}:${e.line} imports ${rel(e.to)} (${why})`

function forbidden (fromAreas: string[], toAreas: string[], why: string): string[] {
  return edges
    .filter(e => fromAreas.includes(areaOf(e.from)) && toAreas.includes(areaOf(e.to)))
    .map(e => show(e, `${areaOf(e.from)} must not import ${areaOf(e.to)}: ${why}`))
}

test('src/network imports no capability and nothing above it', () => {
  const bad = forbidden(['network'], ['messaging', 'swarm', 'vpn', 'control', 'daemon', 'cli', 'node', 'ui'], 'whoever composes the node passes capabilities in')
  assert.deepEqual(bad, [], `\n${bad.join('\n')}`)
})

test('the features (messaging, swarm, vpn) import nothing of the daemon, control, CLI or UI', () => {
  const bad = forbidden(['messaging', 'swarm', 'vpn'], ['daemon', 'control', 'cli', 'node', 'ui'], 'their plug-ins live in src/daemon/features')
  assert.deepEqual(bad, [], `\n${bad.join('\n')}`)
})

test('src/netdev imports only the shared utilities', () => {
  const allowed = (f: string): boolean => ['netdev', 'errors.ts', 'logging.ts', 'safe-file.ts', 'util'].includes(areaOf(f))
  const bad = edges.filter(e => areaOf(e.from) === 'netdev' && !allowed(e.to))
    .map(e => show(e, 'netdev may use src/errors.ts, src/logging.ts, src/safe-file.ts and src/util/ only'))
  assert.deepEqual(bad, [], `\n${bad.join('\n')}`)
})

test('no cycle between the top-level folders of src/', () => {
  // folder graph, with one example import per edge for the message
  const graph = new Map<string, Map<string, Edge>>()
  for (const e of edges) {
    const a = areaOf(e.from)
    const b = areaOf(e.to)
    if (a === b) continue
    if (!graph.has(a)) graph.set(a, new Map())
    if (!graph.get(a)!.has(b)) graph.get(a)!.set(b, e)
  }
  // Tarjan's strongly connected components: every component of more than one node holds a cycle
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: string[][] = []
  const nodes = new Set([...graph.keys(), ...[...graph.values()].flatMap(m => [...m.keys()])])
  const strong = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++
    stack.push(v); onStack.add(v)
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = []
      let w: string
      do { w = stack.pop()!; onStack.delete(w); c.push(w) } while (w !== v)
      if (c.length > 1) components.push(c.sort())
    }
  }
  for (const v of nodes) if (!idx.has(v)) strong(v)
  // for each component, one concrete cycle (shortest path back to the start) with its imports
  const report = components.map(c => {
    const inC = new Set(c)
    const start = c[0]!
    const prev = new Map<string, string>()
    const queue = [start]
    let end: string | undefined
    while (queue.length > 0 && end == null) {
      const v = queue.shift()!
      for (const w of graph.get(v)?.keys() ?? []) {
        if (!inC.has(w)) continue
        if (w === start) { end = v; break }
        if (!prev.has(w)) { prev.set(w, v); queue.push(w) }
      }
    }
    const path = [start]
    for (let v = end!; v !== start; v = prev.get(v)!) path.splice(1, 0, v)
    path.push(start)
    const hops = path.slice(0, -1).map((a, i) => `  ${show(graph.get(a)!.get(path[i + 1]!)!, `${a} -> ${path[i + 1]}`)}`)
    // every folder edge inside the component: cutting enough of them breaks all its cycles
    const inside = c.flatMap(a => [...(graph.get(a) ?? new Map<string, Edge>())].filter(([b]) => inC.has(b)).map(([b, e]) => `  ${a} -> ${b}: e.g. ${show(e, 'import')}`))
    return `cycle ${path.join(' -> ')}:\n${hops.join('\n')}\nfolders in the same knot: ${c.join(', ')}; their imports of each other:\n${inside.join('\n')}`
  })
  assert.deepEqual(report, [], `\n${report.join('\n')}`)
})

test(`no file in src/ is over ${MAX_LINES} lines`, () => {
  const long = sources(srcDir)
    .map(f => ({ f, lines: readFileSync(f, 'utf8').split('\n').length - (readFileSync(f, 'utf8').endsWith('\n') ? 1 : 0) }))
    .filter(x => x.lines > MAX_LINES)
    .map(x => `${rel(x.f)}: ${x.lines} lines (split it: at most ${MAX_LINES})`)
  assert.deepEqual(long, [], `\n${long.join('\n')}`)
})

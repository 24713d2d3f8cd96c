// Every ```ts block of README.md and docs/*.md compiles against this package, so the docs cannot
// drift from the API. Each block becomes one module in a scratch directory inside the repo, where
// `import ... from 'dmsnet'` (and 'dmsnet/<area>') resolves through the package's own `exports`
// map (a package may import itself by name), exactly as an installed copy would: a deep import
// such as 'dmsnet/dist/src/...' fails here as it fails for a user. All blocks are checked by ONE
// tsc program; blocks marked `run` (pure logic: no root, no network) are then executed.
//
// Context a fragment needs but should not show (a variable made three blocks earlier) goes in an
// HTML comment right above the fence, invisible once rendered: `<!-- ts: declare const net: Network -->`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../cli/helpers.js'
import { run } from '../install/run.js'
import { allBlocks, type DocBlock } from './blocks.js'

/** Blocks that may stay unchecked; each must give its reason in the fence. Keep it small. */
const MAX_UNCHECKED = 4

interface Module { name: string, block?: DocBlock, preludeLines: number }

test('every TypeScript block in README.md and docs/ compiles against the package, and the runnable ones run', { timeout: 120_000 }, async (t) => {
  const blocks = allBlocks(repoRoot)
  const unchecked = blocks.filter(b => b.noCheck != null)
  const checked = blocks.filter(b => b.noCheck == null)
  t.diagnostic(`${blocks.length} blocks: ${checked.length} compiled (${checked.filter(b => b.run).length} also run), ${unchecked.length} marked no-check`)
  for (const b of unchecked) t.diagnostic(`  no-check ${b.file}:${b.line}: ${b.noCheck}`)
  assert.ok(checked.length >= 10, `the docs have blocks to check (found ${checked.length})`)
  assert.ok(unchecked.length <= MAX_UNCHECKED, `at most ${MAX_UNCHECKED} unchecked blocks, found ${unchecked.length}: ${unchecked.map(b => `${b.file}:${b.line}`).join(', ')}`)

  const dir = join(repoRoot, '.cache', 'doc-blocks', String(process.pid))
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })

  const modules: Module[] = []
  for (const [i, b] of checked.entries()) {
    const name = `b${String(i).padStart(3, '0')}-${b.file.replace(/[^A-Za-z0-9]+/g, '_')}-L${b.line}.ts`
    const prelude = b.prelude ?? ''
    // `export {}` makes every block a module (top-level await, no globals shared between blocks)
    writeFileSync(join(dir, name), `${prelude}${b.code}export {}\n`)
    modules.push({ name, block: b, preludeLines: prelude === '' ? 0 : prelude.split('\n').length - 1 })
  }
  // positive control: the harness must reject what a user's compiler rejects
  const control = 'control-bad.ts'
  writeFileSync(join(dir, control), [
    "import { noSuchExport } from 'dmsnet'",
    "import { loadConfig } from 'dmsnet/dist/src/config/index.js'",
    'console.log(noSuchExport, loadConfig)',
    'export {}', ''
  ].join('\n'))
  modules.push({ name: control, preludeLines: 0 })

  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2023',
      lib: ['ES2023'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      types: ['node'],
      rootDir: '.',
      outDir: 'out',
      noEmitOnError: false,
      pretty: false
    },
    files: modules.map(m => m.name)
  }, null, 2))

  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc')
  const tscRun = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, timeoutMs: 100_000 })
  const r = { code: tscRun.code, out: tscRun.stdout + tscRun.stderr }
  // file(line,col): error TSxxxx: message
  const errors = [...r.out.matchAll(/^(\S+?\.ts)\((\d+),(\d+)\): error (TS\d+): (.*)$/gm)].map(m => ({ file: m[1]!, line: Number(m[2]), code: m[4]!, text: m[5]! }))
  const docErrors = errors.filter(e => e.file !== control).map(e => {
    const m = modules.find(x => x.name === e.file)
    const at = m?.block != null ? `${m.block.file}:${m.block.line + e.line - m.preludeLines}` : e.file
    return `${at}: ${e.code} ${e.text}`
  })
  assert.ok(errors.length > 0 || r.code === 0, `tsc failed without reporting errors: ${r.out}`)
  assert.deepEqual(docErrors, [], `doc blocks that do not compile:\n${docErrors.join('\n')}`)
  const controlErrors = errors.filter(e => e.file === control)
  assert.deepEqual(controlErrors.map(e => e.code).sort(), ['TS2305', 'TS2307'],
    `the positive control fails for the two reasons it should (no such export; deep path refused by exports): ${r.out}`)

  for (const m of modules.filter(x => x.block?.run === true)) {
    const js = join(dir, 'out', m.name.replace(/\.ts$/, '.js'))
    const ran = await run(process.execPath, [js], { cwd: dir, timeoutMs: 30_000 })
    assert.equal(ran.code, 0, `${m.block!.file}:${m.block!.line} (marked run) failed:\n${ran.stdout}${ran.stderr}`)
  }
})

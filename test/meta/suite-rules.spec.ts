/**
 * Rules the test suite keeps, checked on its own source (parsed with the TypeScript compiler API):
 * - every `assert.rejects` / `assert.throws` names the error it expects (a second argument), so a
 *   timeout or an unrelated failure cannot pass for the refusal a test claims;
 * - no test sleeps to stand in for "until X happened": timers that resolve a bare promise are only
 *   allowed in test/helpers/wait.ts, and every `pause(...)` carries a comment saying why it is not
 *   a wait for an event.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const here = fileURLToPath(new URL('.', import.meta.url))
// test/meta (sources) or dist/test/meta (compiled): the sources are read in both cases
const root = resolve(here, here.includes(`${join('dist', 'test')}`) ? '../../..' : '../..')
const testDir = join(root, 'test')

function sources (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sources(p))
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}

interface Finding { file: string, line: number, text: string }

function scan (check: (node: ts.Node, sf: ts.SourceFile, report: (n: ts.Node) => void) => void): Finding[] {
  const found: Finding[] = []
  for (const file of sources(testDir)) {
    const text = readFileSync(file, 'utf8')
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
    const report = (n: ts.Node): void => {
      const { line } = sf.getLineAndCharacterOfPosition(n.getStart(sf))
      found.push({ file: relative(root, file), line: line + 1, text: n.getText(sf).split('\n')[0]!.slice(0, 120) })
    }
    const visit = (n: ts.Node): void => { check(n, sf, report); ts.forEachChild(n, visit) }
    visit(sf)
  }
  return found
}

const show = (f: Finding[]): string => f.map(x => `${x.file}:${x.line}: ${x.text}`).join('\n')

test('every assert.rejects / assert.throws names the error it expects', () => {
  const bare = scan((n, _sf, report) => {
    if (!ts.isCallExpression(n) || !ts.isPropertyAccessExpression(n.expression)) return
    const { expression: obj, name } = n.expression
    if (ts.isIdentifier(obj) && obj.text === 'assert' && (name.text === 'rejects' || name.text === 'throws')) {
      const expected = n.arguments[1]
      // a string second argument is only a message, not an expectation
      if (expected == null || ts.isStringLiteral(expected)) report(n)
    }
  })
  assert.equal(bare.length, 0, `assertions that accept any error:\n${show(bare)}`)
})

test('no fixed sleep stands for a wait; each deliberate pause says why', () => {
  const sleeps = scan((n, sf, report) => {
    if (sf.fileName.endsWith(join('helpers', 'wait.ts'))) return
    // new Promise(resolve => setTimeout(resolve, ms)) and friends
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'setTimeout') {
      const cb = n.arguments[0]
      // a timer that wakes an event wait as a fallback says so: `// not a sleep: ...` on its line or above
      const { line } = sf.getLineAndCharacterOfPosition(n.getStart(sf))
      const lines = sf.text.split('\n')
      const excused = [lines[line] ?? '', lines[line - 1] ?? ''].some(l => l.includes('// not a sleep:'))
      if (cb != null && ts.isIdentifier(cb) && !excused) report(n)
    }
  })
  assert.equal(sleeps.length, 0, `bare timer sleeps (use waitFor/waitForText, or pause() with a reason):\n${show(sleeps)}`)

  const unexplained = scan((n, sf, report) => {
    if (sf.fileName.endsWith(join('helpers', 'wait.ts'))) return
    // only the suite's own pause() (a file may call an unrelated function of that name)
    if (!/import \{[^}]*\bpause\b[^}]*\} from '[./]*\/?(helpers\/)?wait\.js'/.test(sf.text)) return
    if (!ts.isCallExpression(n) || !ts.isIdentifier(n.expression) || n.expression.text !== 'pause') return
    const { line } = sf.getLineAndCharacterOfPosition(n.getStart(sf))
    const lines = sf.text.split('\n')
    const same = lines[line] ?? ''
    const above = lines[line - 1] ?? ''
    if (!same.includes('//') && !above.trim().startsWith('//')) report(n)
  })
  assert.equal(unexplained.length, 0, `pause() without a comment saying why it is not a wait for an event:\n${show(unexplained)}`)
})

/**
 * The TypeScript code blocks of README.md and docs/*.md, and the `dmsnet` imports they make: what
 * the doc-block test compiles (and runs) and what the pack test imports from the installed package.
 *
 * A block is a fenced ```ts or ```typescript block. Words after the language are flags:
 *   ```ts run                    compiled, then executed (pure logic only: no root, no network)
 *   ```ts no-check <reason>      not compiled (a fragment or pseudo-code); the reason is required
 * An HTML comment right above the fence, `<!-- ts: <code> -->` (one or more lines), is code the
 * block needs but the reader does not (declarations of variables an earlier block made): it is
 * compiled in front of the block and invisible once the markdown is rendered.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface DocBlock {
  /** path relative to the repo root, e.g. docs/netdev.md */
  file: string
  /** 1-based line of the opening fence */
  line: number
  code: string
  run: boolean
  /** set when the block is marked `no-check`: why it cannot compile */
  noCheck?: string
  /** hidden context from a `<!-- ts: ... -->` comment above the fence, newline-terminated */
  prelude?: string
}

/** The `<!-- ts: ... -->` comment ending on the line before `fence`, if any. */
function preludeBefore (lines: string[], fence: number): string | undefined {
  const end = fence - 1
  if (end < 0 || !lines[end]!.trimEnd().endsWith('-->')) return undefined
  for (let j = end; j >= 0 && j > end - 20; j--) {
    const line = lines[j]!.trimStart()
    if (line.startsWith('<!-- ts:')) {
      const text = lines.slice(j, end + 1).join('\n').trim().slice('<!-- ts:'.length, -'-->'.length)
      return text.trim() + '\n'
    }
    if (line.startsWith('<!--') && j !== end) return undefined
  }
  return undefined
}

/** README.md and every docs/*.md, in a stable order. */
export function docFiles (root: string): string[] {
  const docs = readdirSync(join(root, 'docs')).filter(f => f.endsWith('.md')).sort().map(f => `docs/${f}`)
  return ['README.md', ...docs]
}

const FENCE = /^```(ts|typescript)\b(.*)$/

export function extractBlocks (root: string, file: string): DocBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n')
  const blocks: DocBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE.exec(lines[i]!.trimEnd())
    if (m == null) continue
    const flags = m[2]!.trim()
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!)
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: code block never closed`)
    const block: DocBlock = { file, line: start + 1, code: body.join('\n') + '\n', run: /(^|\s)run(\s|$)/.test(flags) }
    const prelude = preludeBefore(lines, start)
    if (prelude != null) block.prelude = prelude
    const noCheck = /(?:^|\s)no-check\b\s*(.*)$/.exec(flags)
    if (noCheck != null) {
      if (noCheck[1]!.trim() === '') throw new Error(`${file}:${start + 1}: a no-check block must say why (\`\`\`ts no-check <reason>)`)
      block.noCheck = noCheck[1]!.trim()
    }
    blocks.push(block)
  }
  return blocks
}

export function allBlocks (root: string): DocBlock[] {
  return docFiles(root).flatMap(f => extractBlocks(root, f))
}

export interface DocImport {
  /** 'dmsnet' or 'dmsnet/<subpath>' */
  specifier: string
  /** the exported name (before any `as`) */
  name: string
  /** imported with `type`: erased at run time, checked by the compiler only */
  typeOnly: boolean
  where: string
}

const IMPORT = /import\s+(type\s+)?\{([^}]*)\}\s+from\s+'(dmsnet(?:\/[\w-]+)?)'/g

/** Every name the docs import from `dmsnet` or one of its subpaths (blocks marked no-check too). */
export function documentedImports (root: string): DocImport[] {
  const out: DocImport[] = []
  for (const b of allBlocks(root)) {
    for (const m of b.code.matchAll(IMPORT)) {
      const allTypes = m[1] != null
      for (const part of m[2]!.split(',').map(s => s.trim()).filter(Boolean)) {
        const typeOnly = allTypes || part.startsWith('type ')
        const name = part.replace(/^type\s+/, '').split(/\s+as\s+/)[0]!.trim()
        out.push({ specifier: m[3]!, name, typeOnly, where: `${b.file}:${b.line}` })
      }
    }
  }
  return out
}

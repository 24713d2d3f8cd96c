#!/usr/bin/env node
// Builds the status page (src/ui/web: preact + TSX) into dist/ui: one bundled, minified app.js
// (preact included, nothing loaded from a CDN), app.css and index.html. `npm run build` runs it
// after typechecking the page with its own tsconfig (DOM types), so a fresh clone's tests and the
// packed tarball both have the assets. Usage: npm run build:ui
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const src = join(root, 'src', 'ui', 'web')
const out = join(root, 'dist', 'ui')
mkdirSync(out, { recursive: true })
try {
  await build({
    entryPoints: [join(src, 'main.tsx')],
    outfile: join(out, 'app.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'warning'
  })
  copyFileSync(join(src, 'index.html'), join(out, 'index.html'))
  copyFileSync(join(src, 'app.css'), join(out, 'app.css'))
} catch (err) {
  console.error(`build-ui failed: ${err.message}`)
  process.exit(1)
}

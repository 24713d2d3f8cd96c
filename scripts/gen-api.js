#!/usr/bin/env node
// Writes docs/control-api.json, the control API's description generated from the method and error
// catalogues (src/control/catalogue, through src/control/describe.ts). Run after changing a
// method: test/control/catalogue.spec.ts fails while the checked-in file differs from the code.
// Usage: npm run gen:api   (compiles with tsc first; reads dist/src/control/describe.js)
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { controlApiText } = await import(join(root, 'dist', 'src', 'control', 'describe.js'))
const file = join(root, 'docs', 'control-api.json')
writeFileSync(file, controlApiText())
process.stdout.write(`wrote ${file}\n`)

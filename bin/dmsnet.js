#!/usr/bin/env node
// dmsnet launcher. libp2p needs Node >= 22; the package pins Node 22 through its `node`
// devDependency (node_modules/.bin/node). `npx dmsnet` / `npm exec dmsnet` put node_modules/.bin
// first on PATH, so the shebang already finds Node 22. When started by an older `node` (e.g.
// ./bin/dmsnet.js with the system's Node 20), re-run this file with the pinned binary.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { constants } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const major = Number(process.versions.node.split('.')[0])

if (major < 22) {
  // the package's own node_modules first, then those of whatever project installed us
  const candidates = []
  for (let dir = root; ; dir = dirname(dir)) {
    candidates.push(join(dir, 'node_modules', '.bin', 'node'))
    if (dirname(dir) === dir) break
  }
  const node22 = candidates.find(p => existsSync(p))
  if (node22 == null || process.env.DMSNET_REEXEC === '1') {
    console.error(`dmsnet: needs Node.js >= 22 (this is ${process.version}); run "npm install" in ${root} and use "npx dmsnet", or install Node 22`)
    process.exit(1)
  }
  const child = spawn(node22, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, DMSNET_REEXEC: '1' }
  })
  // pass on signals sent to this pid only (a Ctrl-C reaches both; the daemon ignores the echo)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { child.kill(sig) })
  child.on('exit', (code, signal) => { process.exit(code ?? 128 + (constants.signals[signal] ?? 0)) })
} else {
  const entry = join(root, 'dist', 'src', 'cli', 'main.js')
  if (!existsSync(entry)) {
    console.error(`dmsnet: ${entry} is missing; run "npm run build" in ${root} first`)
    process.exit(1)
  }
  const { main } = await import(entry)
  const code = await main(process.argv)
  process.exitCode ||= code
}

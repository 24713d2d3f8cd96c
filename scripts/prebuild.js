#!/usr/bin/env node
// Builds the prebuilt TUN addon shipped in the npm package: prebuilds/<platform>-<arch>/
// node.napi.<libc>.node, made by prebuildify (Node-API, so one binary serves every Node >= 22)
// and found at run time by node-gyp-build (src/netdev/native-loader.ts). `npm pack` runs it
// (prepack), so a tarball always carries a binary compiled from the native/ it ships.
// The compile happens in a scratch copy so the checkout's own build/ is left alone, and the result
// is loaded once before it is kept: a broken binary fails here, not on an operator's machine.
// Usage: npm run prebuild   (needs python3, make, a C compiler and Node headers, like build:native)
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const prebuildify = require('prebuildify')
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const stage = mkdtempSync(join(tmpdir(), 'dmsnet-prebuild-'))

try {
  cpSync(join(root, 'binding.gyp'), join(stage, 'binding.gyp'))
  cpSync(join(root, 'native'), join(stage, 'native'), { recursive: true })
  // Node-API target: the running Node's version only names node-gyp's header dir (npm's nodedir wins)
  await new Promise((resolve, reject) => {
    prebuildify({ cwd: stage, name: 'node.napi', napi: true, strip: true, tagLibc: true, targets: [{ runtime: 'node', target: process.versions.node }] },
      err => { if (err != null) reject(err); else resolve() })
  })
  const arch = `${process.platform}-${process.arch}`
  const built = readdirSync(join(stage, 'prebuilds', arch)).filter(f => f.endsWith('.node'))
  if (built.length !== 1) throw new Error(`expected one .node file in prebuilds/${arch}, found ${built.join(', ') || 'none'}`)
  const addon = require(join(stage, 'prebuilds', arch, built[0]))
  if (typeof addon.Tun !== 'function') throw new Error(`${built[0]} loads but exports no Tun class`)
  rmSync(join(root, 'prebuilds', arch), { recursive: true, force: true })
  mkdirSync(join(root, 'prebuilds'), { recursive: true })
  cpSync(join(stage, 'prebuilds', arch), join(root, 'prebuilds', arch), { recursive: true })
  console.log(`prebuild: prebuilds/${arch}/${built[0]}`)
} catch (err) {
  console.error(`prebuild failed: ${err.message}`)
  process.exitCode = 1
} finally {
  rmSync(stage, { recursive: true, force: true })
}

/**
 * Finds and loads the TUN addon (native/tun/tun.c) through node-gyp-build, the loader that
 * prebuildify packages use: a local compile (build/Release: `npm run build:native`, or the
 * install-time fallback `node-gyp-build` runs when no prebuilt binary fits) wins, else the
 * prebuilt binary shipped in the package (prebuilds/<platform>-<arch>/, made by
 * `npm run prebuild`). Neither -> NativeBindingError saying what to do on this machine.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NativeBindingError } from './errors.js'

interface NodeGypBuild {
  (dir: string): unknown
  resolve: (dir: string) => string
}

/** The package root (the directory holding binding.gyp), from src/netdev under tsx or dist/src/netdev. */
function addonRoot (): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir
    if (dirname(dir) === dir) throw new NativeBindingError('cannot find the dmsnet package root (no binding.gyp above this file); the installation is incomplete: reinstall dmsnet')
  }
}

const HOW_TO_FIX = 'Either install a package built for this platform, or compile the addon here: install python3, make and a C compiler ' +
  '(Debian/Ubuntu: apt-get install python3 make g++), then run "npm rebuild -g dmsnet" (global install), "npm rebuild dmsnet" (project install) ' +
  'or "npm run build:native" (a checkout).'

/** The path of the addon binary that `loadAddon` loads (throws NativeBindingError if none fits). */
export function addonPath (root = addonRoot()): string {
  const require = createRequire(import.meta.url)
  const gypBuild = require('node-gyp-build') as NodeGypBuild
  try {
    return gypBuild.resolve(root)
  } catch (err) {
    throw new NativeBindingError(`the TUN addon is neither compiled nor shipped prebuilt for ${process.platform}-${process.arch} (Node ${process.version}): ${(err as Error).message.split('\n')[0]}. ${HOW_TO_FIX}`)
  }
}

export function loadAddon<T> (): T {
  const file = addonPath()
  const require = createRequire(import.meta.url)
  try {
    return require(file) as T
  } catch (err) {
    // e.g. a prebuilt binary linked against a newer glibc than this machine has
    throw new NativeBindingError(`the TUN addon ${file} does not load on this machine: ${(err as Error).message.split('\n')[0]}. ${HOW_TO_FIX}`)
  }
}

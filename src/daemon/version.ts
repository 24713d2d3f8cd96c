/**
 * The package version, read once from package.json (found by walking up from this file, so it
 * works both from src/ under tsx and from dist/src/ when compiled).
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let cached: string | undefined

export function packageRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }
      if (pkg.name === 'dmsnet') return dir
    } catch {
      // not here; keep walking up
    }
    dir = dirname(dir)
  }
  throw new Error('dmsnet package.json not found above ' + fileURLToPath(import.meta.url))
}

export function version (): string {
  cached ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version
  return cached
}

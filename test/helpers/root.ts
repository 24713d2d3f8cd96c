/**
 * Gate for tests that need root (TUN devices, network namespaces, nft).
 *
 * Not root and not in CI: the test is skipped, and the skip is printed loudly so nobody mistakes
 * it for a pass. In CI (`CI=true`) we always run as root, so a missing privilege is a failure.
 */
import type { TestContext } from 'node:test'

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
export const inCI = process.env.CI === 'true'

/** Call first in a root-only test; returns false (after skipping) when the test must not run. */
export function requireRoot (t: TestContext): boolean {
  if (isRoot) return true
  if (inCI) throw new Error('this test needs root, and CI runs as root: refusing to skip in CI')
  const why = `SKIPPED (needs root): ${t.name}`
  process.stderr.write(`\n*** ${why} ***\n`)
  t.skip(why)
  return false
}

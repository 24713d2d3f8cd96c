/**
 * Headless Chromium for the status page tests: Debian's /usr/bin/chromium driven by
 * playwright-core (no browser download), a fresh profile per launch, removed afterwards.
 * Without the browser the test is skipped loudly, except in CI where it must be installed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { chromium, type BrowserContext } from 'playwright-core'
import { inCI } from '../helpers/root.js'

export const CHROMIUM = '/usr/bin/chromium'

export function requireChromium (t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true
  if (inCI) throw new Error(`${CHROMIUM} missing: .ci/run installs the chromium package`)
  process.stderr.write(`\n*** SKIPPED (needs ${CHROMIUM}: apt-get install chromium): ${t.name} ***\n`)
  t.skip('no chromium')
  return false
}

/** A browser with a profile of its own; closed and removed by the test's cleanup. */
export async function launchBrowser (t: TestContext): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'dmsnet-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1200, height: 900 },
    timeout: 60_000
  })
  t.after(async () => {
    await context.close().catch(() => {})
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

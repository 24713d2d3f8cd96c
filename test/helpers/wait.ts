/**
 * Waiting in tests: for a condition, never for a length of time. Every wait is bounded by a
 * generous timeout that fails the test only when the thing never happens; under the suite's stress
 * mode (`npm test -- --stress`, see scripts/test.js) those bounds are multiplied, so a loaded
 * machine makes a test slower, not red.
 */

/** Multiplier for wait bounds: 3 in stress mode, else DMSNET_TEST_TIMEOUT_SCALE or 1. */
export const TIMEOUT_SCALE = Number(process.env.DMSNET_TEST_TIMEOUT_SCALE ?? (process.env.DMSNET_TEST_STRESS === '1' ? 3 : 1))

/** `ms` scaled by TIMEOUT_SCALE. */
export function bound (ms: number): number {
  return Math.round(ms * TIMEOUT_SCALE)
}

/** Polls `fn` (every 50 ms, a polling interval, not a guess of how long X takes) until it returns true. */
export async function waitFor (fn: () => boolean | Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + bound(ms)
  while (Date.now() < end) {
    if (await fn()) return
    await pause(50)
  }
  if (await fn()) return
  throw new Error(`timed out after ${bound(ms)} ms waiting for ${what}`)
}

/** Resolves once `read()` (e.g. a child's accumulated stdout) contains `text`. */
export async function waitForText (read: () => string, text: string | RegExp, ms = 15_000, what?: string): Promise<void> {
  const has = (): boolean => typeof text === 'string' ? read().includes(text) : text.test(read())
  await waitFor(has, ms, what ?? `output matching ${String(text)}`)
}

/**
 * A deliberate pause that is not a wait for an event: callers say why at the call site (pacing a
 * sender, a polling interval, a period during which something must NOT happen after a positive
 * control showed it would have).
 */
export async function pause (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

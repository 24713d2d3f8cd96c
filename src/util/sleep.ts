/**
 * `sleep(ms, signal?)`: the one pause helper. An abort ends the pause early and resolves (it does
 * not reject): callers are loops that check their own signal or state right after waking up.
 */
export function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) { resolve(); return }
    const done = (): void => { clearTimeout(t); signal?.removeEventListener('abort', done); resolve() }
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

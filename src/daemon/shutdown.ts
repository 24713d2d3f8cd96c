/**
 * The one graceful shutdown path for a process: SIGINT/SIGTERM (or anything calling `trigger`)
 * runs the stop functions once, in the order given; a second signal while stopping, or a stop
 * that takes longer than `timeoutMs`, exits at once with a non-zero code.
 */
export interface ShutdownOptions {
  /** Give up waiting for a clean stop after this long. Default 15 s. */
  timeoutMs?: number
  /** Told which signal arrived (for a log line or a message on the terminal). */
  onSignal?: (signal: NodeJS.Signals) => void
  /** Told when the forced exit happens. */
  onForce?: (why: string) => void
}

export interface Shutdown {
  /** Resolves once the stop functions finished (the caller then exits or returns). */
  readonly done: Promise<void>
  trigger (reason?: string): void
  /** Removes the signal handlers (when the process ends another way). */
  dispose (): void
}

export function onShutdown (stop: () => Promise<void>, options: ShutdownOptions = {}): Shutdown {
  const timeoutMs = options.timeoutMs ?? 15_000
  let started = false
  let resolveDone!: () => void
  const done = new Promise<void>(resolve => { resolveDone = resolve })

  const run = (): void => {
    if (started) return
    started = true
    const timer = setTimeout(() => {
      options.onForce?.(`clean stop took longer than ${timeoutMs} ms`)
      process.exit(1)
    }, timeoutMs)
    timer.unref()
    stop().catch(() => {}).finally(() => {
      clearTimeout(timer)
      dispose()
      resolveDone()
    })
  }

  let firstAt = 0
  const handler = (signal: NodeJS.Signals): void => {
    // The same Ctrl-C can arrive twice (from the terminal and forwarded by the bin/dmsnet.js
    // launcher); only a second signal a moment later means "stop now".
    if (started && Date.now() - firstAt < 1000) return
    if (started) {
      options.onForce?.(`second ${signal}`)
      process.exit(130)
    }
    firstAt = Date.now()
    options.onSignal?.(signal)
    run()
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)

  function dispose (): void {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }

  return { done, trigger: run, dispose }
}

/**
 * `withTimeout(signal, ms)`: a signal that aborts when the caller's signal does or after `ms`,
 * whichever comes first (the hand-written `AbortSignal.any([signal, AbortSignal.timeout(ms)])`).
 * The timeout's reason is a DOMException named `TimeoutError`, so callers can tell the two apart.
 */
export function withTimeout (signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  return signal == null ? timeout : AbortSignal.any([signal, timeout])
}

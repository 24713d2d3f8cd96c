/**
 * Makes the messaging error classes known to the control client, so `dmsnet send|request|...`
 * re-throw them by class (and print their names) rather than as a generic RemoteError.
 */
import { registerErrorClass } from '../../../control/index.js'
import { DuplicateHandlerError, MessageRejectedError, MessageTooLargeError, NoHandlerError, StreamClosedError } from '../../../messaging/errors.js'

for (const c of [DuplicateHandlerError, MessageRejectedError, MessageTooLargeError, NoHandlerError, StreamClosedError]) registerErrorClass(c)

/** Parses `--timeout` (ms) and rejects nonsense with a usage error. */
export function parseTimeout (v: string | undefined, usage: (m: string) => Error): number | undefined {
  if (v == null) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 600_000) throw usage(`--timeout: got "${v}", expected milliseconds 1-600000`)
  return n
}

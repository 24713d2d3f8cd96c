/**
 * Makes the messaging error classes known to the control client, so `dmsnet send|request|...`
 * re-throw them by class (and print their names) rather than as a generic RemoteError; and parses
 * the arguments those messaging commands share.
 */
import { registerErrorClass } from '../../../control/index.js'
import { CliError, EXIT_USAGE } from '../../errors.js'
import { DuplicateHandlerError, MessageRejectedError, MessageTooLargeError, NoHandlerError, StreamClosedError } from '../../../messaging/errors.js'

for (const c of [DuplicateHandlerError, MessageRejectedError, MessageTooLargeError, NoHandlerError, StreamClosedError]) registerErrorClass(c)

/** Parses `--timeout` (ms) and rejects nonsense with a usage error. */
export function parseTimeout (v: string | undefined, usage: (m: string) => Error): number | undefined {
  if (v == null) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 600_000) throw usage(`--timeout: got "${v}", expected milliseconds 1-600000`)
  return n
}

/**
 * Control parameters of `messaging.send` / `messaging.request` from `<peer> <type> [payload]`,
 * `--base64` and `--timeout` (a bad timeout is a usage error, raised before anything is sent).
 */
export function directMessageParams (args: string[], opts: { base64?: boolean, timeout?: string }): Record<string, unknown> {
  const [peer, type, payload = ''] = args as [string, string, string?]
  const timeoutMs = parseTimeout(opts.timeout, m => new CliError(m, EXIT_USAGE))
  return { peer, type, payload, encoding: opts.base64 === true ? 'base64' : 'utf8', ...(timeoutMs != null ? { timeoutMs } : {}) }
}

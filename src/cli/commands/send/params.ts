/**
 * Parses the arguments `dmsnet send` and `dmsnet request` share into `messaging.send` /
 * `messaging.request` params. (The error classes those methods raise are rebuilt by the control
 * client from the static error catalogue, src/control/catalogue/errors.ts.)
 */
import type { ParamsIn } from '../../../control/spec.js'
import type { messaging } from '../../../control/catalogue/index.js'
import { CliError, EXIT_USAGE } from '../../errors.js'

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
export function directMessageParams (args: string[], opts: { base64?: boolean, timeout?: string }): ParamsIn<typeof messaging.send> {
  const [peer, type, payload = ''] = args as [string, string, string?]
  const timeoutMs = parseTimeout(opts.timeout, m => new CliError(m, EXIT_USAGE))
  return { peer, type, payload, encoding: opts.base64 === true ? 'base64' as const : 'utf8' as const, ...(timeoutMs != null ? { timeoutMs } : {}) }
}

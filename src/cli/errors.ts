/**
 * How the CLI reports a failure: one line (or the ConfigError's per-key lines) on stderr and an
 * exit code scripts can act on.
 *   0 ok, 1 any other error, 2 bad flags or configuration, 3 daemon not running.
 */
import { ConfigError, DmsnetError, InvalidArgumentError } from '../errors.js'

export const EXIT_OK = 0
export const EXIT_ERROR = 1
export const EXIT_USAGE = 2
export const EXIT_NOT_RUNNING = 3

/** A failure already phrased for the user, with its exit code. */
export class CliError extends DmsnetError {
  static override name = 'CliError'
  readonly exitCode: number
  constructor (message: string, exitCode = EXIT_ERROR) {
    super(message)
    this.exitCode = exitCode
  }
}

export function exitCodeFor (err: unknown): number {
  if (err instanceof CliError) return err.exitCode
  const name = (err as Error | undefined)?.name
  // subclasses too (e.g. PrivateNetworkRequiredError, NamespaceNotFoundError), when the class is known here
  if (err instanceof ConfigError || err instanceof InvalidArgumentError || name === 'ConfigError' || name === 'InvalidArgumentError') return EXIT_USAGE
  if (name === 'DaemonNotRunningError') return EXIT_NOT_RUNNING
  return EXIT_ERROR
}

export function describeError (err: unknown): string {
  if (!(err instanceof Error)) return `dmsnet: ${String(err)}`
  if (err.name === 'ConfigError') return `dmsnet: ${err.message}`
  if (err.name === 'DaemonNotRunningError' || err instanceof CliError) return `dmsnet: ${err.message}`
  return `dmsnet: ${err.name}: ${err.message}`
}

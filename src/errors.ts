/**
 * Named error classes shared by every dmsnet module.
 *
 * Errors are matched by `name` (js-libp2p style), never by message text. Each module may declare
 * its own subclasses next to its code; the ones here are used across modules.
 */

export class DmsnetError extends Error {
  static override name = 'DmsnetError'
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = (this.constructor as { name: string }).name
  }
}

/** A configuration value (file, env or flag) failed validation. */
export class ConfigError extends DmsnetError {
  static override name = 'ConfigError'
  /** One entry per offending key: `key`, the `value` given and what was `expected`. */
  readonly issues: ConfigIssue[]
  constructor (message: string, issues: ConfigIssue[] = [], options?: ErrorOptions) {
    super(message, options)
    this.issues = issues
  }
}

export interface ConfigIssue {
  key: string
  value: unknown
  expected: string
}

/**
 * A stream broke or closed under an operation (a message in flight before its acknowledgement, a
 * writer waiting for room). Safe to retry on a new stream.
 */
export class StreamClosedError extends DmsnetError {
  static override name = 'StreamClosedError'
}

/** An argument to an API call is malformed (bad peer id, CIDR, interface name, ...). */
export class InvalidArgumentError extends DmsnetError {
  static override name = 'InvalidArgumentError'
}

/** The component is not in a state that allows the call (not started, already stopped, ...). */
export class NotStartedError extends DmsnetError {
  static override name = 'NotStartedError'
}

export class AlreadyStartedError extends DmsnetError {
  static override name = 'AlreadyStartedError'
}

/** The operation was cancelled by its AbortSignal or timed out. */
export class AbortedError extends DmsnetError {
  static override name = 'AbortedError'
}

export class TimeoutError extends DmsnetError {
  static override name = 'TimeoutError'
}

/** A remote peer could not be reached or refused the operation. */
export class DialError extends DmsnetError {
  static override name = 'DialError'
}

export class PeerNotFoundError extends DmsnetError {
  static override name = 'PeerNotFoundError'
}

/** The caller lacks the right to do this (unauthorised peer, bad control token, ...). */
export class UnauthorizedError extends DmsnetError {
  static override name = 'UnauthorizedError'
}

/** A host command (ip, nft, ...) or a system call failed. */
export class SystemError extends DmsnetError {
  static override name = 'SystemError'
}

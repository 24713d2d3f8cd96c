/**
 * Errors specific to the network module (identity files); the shared ones (DialError,
 * PeerNotFoundError, NotStartedError, ...) live in src/errors.ts.
 */
import { DmsnetError } from '../errors.js'

/** The identity key file exists but cannot be decoded: never silently replaced. */
export class IdentityCorruptError extends DmsnetError {
  static override name = 'IdentityCorruptError'
}

/** The identity key file is readable by others and could not be fixed. */
export class IdentityPermissionError extends DmsnetError {
  static override name = 'IdentityPermissionError'
}

/** A connection's liveness ping went unanswered (src/network/connection-pings.ts): it is aborted. */
export class ConnectionPingTimeoutError extends DmsnetError {
  static override name = 'ConnectionPingTimeoutError'
}

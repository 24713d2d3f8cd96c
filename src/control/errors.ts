/**
 * Errors specific to the local control API (CLI <-> daemon).
 */
import { DmsnetError } from '../errors.js'

/** No daemon answers on the control socket (not started, or it exited and left nothing behind). */
export class DaemonNotRunningError extends DmsnetError {
  static override name = 'DaemonNotRunningError'
}

/** The daemon has no method of that name (a feature module is not enabled, or a typo). */
export class MethodNotFoundError extends DmsnetError {
  static override name = 'MethodNotFoundError'
}

/** A request or response on the control socket did not follow the protocol. */
export class ControlProtocolError extends DmsnetError {
  static override name = 'ControlProtocolError'
}

/** The daemon raised an error whose class this client does not know; `remoteName` keeps its name. */
export class RemoteError extends DmsnetError {
  static override name = 'RemoteError'
  readonly remoteName: string
  constructor (remoteName: string, message: string) {
    super(message)
    this.remoteName = remoteName
  }
}

/** A request body did not arrive in time (a client that trickles or stalls; control/body.ts). */
export class RequestTimeoutError extends ControlProtocolError {
  static override name = 'RequestTimeoutError'
}

/**
 * A reply from the control socket (a unary body, or one line of a stream) grew past the client's
 * `maxResponseBytes`: a broken or hostile process on the socket cannot make the CLI buffer
 * without bound.
 */
export class ResponseTooLargeError extends ControlProtocolError {
  static override name = 'ResponseTooLargeError'
}

/** A control request body exceeded MAX_REQUEST_BYTES. */
export class RequestTooLargeError extends ControlProtocolError {
  static override name = 'RequestTooLargeError'
}

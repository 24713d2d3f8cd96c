/**
 * Named errors of the messaging module (matched by `name`, never by message text).
 */
import { DmsnetError } from '../errors.js'

/** A handler for this message type is already registered. */
export class DuplicateHandlerError extends DmsnetError {
  static override name = 'DuplicateHandlerError'
}

/** The remote peer (or we, for a send to self) has no handler for the message type. */
export class NoHandlerError extends DmsnetError {
  static override name = 'NoHandlerError'
}

/** The remote peer received the message but refused it (verification failed, handler threw...). */
export class MessageRejectedError extends DmsnetError {
  static override name = 'MessageRejectedError'
  /** Reason code sent by the remote (`handler-error`, `bad-signature`, `expired`, ...). */
  readonly reason: string
  constructor (message: string, reason: string = 'rejected', options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

// declared in src/errors.ts (the network layer throws it too); re-exported here where it always was
export { StreamClosedError } from '../errors.js'

/** A message, frame or payload is larger than `messaging.maxMessageSize`. */
export class MessageTooLargeError extends DmsnetError {
  static override name = 'MessageTooLargeError'
}

/** Bytes that do not decode to a well-formed envelope, frame or record. */
export class InvalidMessageError extends DmsnetError {
  static override name = 'InvalidMessageError'
}

/** An envelope or record whose signature does not verify against its claimed signer. */
export class InvalidSignatureError extends DmsnetError {
  static override name = 'InvalidSignatureError'
}

/** An envelope or record past its expiry. */
export class ExpiredError extends DmsnetError {
  static override name = 'ExpiredError'
}

/** A record whose expiry lies further ahead than the maximum record lifetime. */
export class RecordLifetimeError extends DmsnetError {
  static override name = 'RecordLifetimeError'
}

/**
 * A peer took longer than `messaging.frameTimeoutMs` to deliver one frame it had begun (a
 * trickle): its stream is reset and the partial frame thrown away.
 */
export class SlowFrameError extends DmsnetError {
  static override name = 'SlowFrameError'
}

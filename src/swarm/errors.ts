/**
 * Named errors of the private-swarm module (swarm key files, the PSK protector, key exchange).
 * Matched by `name`, never by message text.
 */
import { DmsnetError, UnauthorizedError } from '../errors.js'

/** A swarm key (file or bytes) is malformed; `reason` says which part. */
export class InvalidSwarmKeyError extends DmsnetError {
  static override name = 'InvalidSwarmKeyError'
  readonly reason: 'header' | 'encoding' | 'length'
  constructor (reason: 'header' | 'encoding' | 'length', message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/** The first line is not `/key/swarm/psk/1.0.0/`. */
export class SwarmKeyHeaderError extends InvalidSwarmKeyError {
  static override name = 'SwarmKeyHeaderError'
  constructor (message: string, options?: ErrorOptions) { super('header', message, options) }
}

/** The encoding line is unknown, or the key text is not valid in that encoding. */
export class SwarmKeyEncodingError extends InvalidSwarmKeyError {
  static override name = 'SwarmKeyEncodingError'
  constructor (message: string, options?: ErrorOptions) { super('encoding', message, options) }
}

/** The decoded key is not 32 bytes. */
export class SwarmKeyLengthError extends InvalidSwarmKeyError {
  static override name = 'SwarmKeyLengthError'
  constructor (message: string, options?: ErrorOptions) { super('length', message, options) }
}

/** The remote did not send its 24-byte nonce in time, or the connection ended before it. */
export class PskHandshakeError extends DmsnetError {
  static override name = 'PskHandshakeError'
}

/** One direction of a protected connection used up XSalsa20's 32-bit block counter (256 GiB). */
export class PskKeystreamExhaustedError extends DmsnetError {
  static override name = 'PskKeystreamExhaustedError'
}

/** A sealed key envelope failed to verify or decrypt (wrong recipient, tampering, bad sender). */
export class SealError extends DmsnetError {
  static override name = 'SealError'
}

/** The creator refused to hand out the swarm key: the requesting peer is not authorised. */
export class SwarmUnauthorizedError extends UnauthorizedError {
  static override name = 'SwarmUnauthorizedError'
}

/** An invite token is malformed, expired, already used or unknown. */
export class InvalidInviteError extends UnauthorizedError {
  static override name = 'InvalidInviteError'
}

/** The call needs a swarm (created or joined) and there is none, or it is another swarm. */
export class SwarmStateError extends DmsnetError {
  static override name = 'SwarmStateError'
}

/** A key-exchange message was malformed or of an unexpected type. */
export class SwarmProtocolError extends DmsnetError {
  static override name = 'SwarmProtocolError'
}

/** The swarm's state file exists but cannot be read as swarm state. */
export class SwarmStateFileError extends DmsnetError {
  static override name = 'SwarmStateFileError'
}

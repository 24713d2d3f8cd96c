/**
 * Errors raised by the VPN module. Matched by `name`, never by message text.
 */
import { DmsnetError } from '../errors.js'

/** The address plan has no free address left in the configured range. */
export class AddressExhaustedError extends DmsnetError {
  static override name = 'AddressExhaustedError'
}

/** Only the VPN's authority (the node that started it) may change membership. */
export class NotAuthorityError extends DmsnetError {
  static override name = 'NotAuthorityError'
}

/** A framed tunnel record or control message broke the wire format (length, header, JSON). */
export class InvalidFrameError extends DmsnetError {
  static override name = 'InvalidFrameError'
}

/** The VPN is not running (call `start` first) or was stopped. */
export class VpnNotRunningError extends DmsnetError {
  static override name = 'VpnNotRunningError'
}

/** The saved VPN state file exists but cannot be read or parsed; it is never silently discarded. */
export class VpnStateFileError extends DmsnetError {
  static override name = 'VpnStateFileError'
}

/** A membership broke this node's policy (prefix outside the accepted ranges, member address outside the prefixes, overlapping route); nothing of it was applied. */
export class MembershipRefusedError extends DmsnetError {
  static override name = 'MembershipRefusedError'
}

/** An invitation (a membership of a VPN this node is not in) was refused: untrusted authority, or a switch away from the running VPN the operator did not allow. */
export class InvitationRefusedError extends DmsnetError {
  static override name = 'InvitationRefusedError'
}

/** A membership older than the one this node holds (a replay); ignored. */
export class StaleMembershipError extends DmsnetError {
  static override name = 'StaleMembershipError'
}

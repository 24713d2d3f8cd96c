/**
 * Named errors of the host network device layer (TUN, links, namespaces, veth, bridge, nftables).
 *
 * Input errors extend the shared InvalidArgumentError so callers can catch every bad argument in
 * one place; host command failures extend SystemError and carry the command and its stderr.
 */
import { DmsnetError, InvalidArgumentError, SystemError } from '../errors.js'

export class InvalidInterfaceNameError extends InvalidArgumentError {
  static override name = 'InvalidInterfaceNameError'
}

export class InvalidNamespaceNameError extends InvalidArgumentError {
  static override name = 'InvalidNamespaceNameError'
}

export class InvalidAddressError extends InvalidArgumentError {
  static override name = 'InvalidAddressError'
}

export class InvalidPortError extends InvalidArgumentError {
  static override name = 'InvalidPortError'
}

/** A packet batch is not a sequence of whole `u32 length | payload` records. */
export class InvalidBatchError extends InvalidArgumentError {
  static override name = 'InvalidBatchError'
}

/** A firewall rule object is malformed (unknown action/protocol, port without protocol, ...). */
export class InvalidRuleError extends InvalidArgumentError {
  static override name = 'InvalidRuleError'
}

/** `ip`, `nft` or another host command exited non-zero. */
export class CommandFailedError extends SystemError {
  static override name = 'CommandFailedError'
  readonly command: string
  readonly args: string[]
  readonly exitCode: number | null
  readonly stderr: string
  constructor (command: string, args: string[], exitCode: number | null, stderr: string, options?: ErrorOptions) {
    super(`${command} ${args.join(' ')} failed (exit ${String(exitCode)}): ${stderr.trim()}`, options)
    this.command = command
    this.args = args
    this.exitCode = exitCode
    this.stderr = stderr
  }
}

/** The native addon (build/Release/dmsnet_tun.node) is not built or failed to load. */
export class NativeBindingError extends DmsnetError {
  static override name = 'NativeBindingError'
}

/** Opening or configuring a TUN/TAP device failed (no /dev/net/tun, EPERM, name busy, ...). */
export class TunOpenError extends SystemError {
  static override name = 'TunOpenError'
  readonly errno?: number
  constructor (message: string, errno?: number, options?: ErrorOptions) {
    super(message, options)
    this.errno = errno
  }
}

/** The device was closed; no more reads or writes. */
export class DeviceClosedError extends DmsnetError {
  static override name = 'DeviceClosedError'
}

/** Something we were asked to find (link, namespace, mapping) does not exist. */
export class NotFoundError extends DmsnetError {
  static override name = 'NotFoundError'
}

export { InvalidArgumentError, SystemError } from '../errors.js'

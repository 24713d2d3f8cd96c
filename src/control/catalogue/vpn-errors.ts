/**
 * Errors of the VPN's job and port-mapping control methods (`vpn.attach`, `vpn.detach`,
 * `vpn.map-port`, `vpn.unmap-port`): bad input refused before anything changes on the host.
 * Declared with the API because they belong to it (the VPN itself never raises them).
 */
import { DmsnetError, InvalidArgumentError } from '../../errors.js'

/** `vpn.attach` / `vpn.detach`: no network namespace of that name exists on this host. */
export class NamespaceNotFoundError extends InvalidArgumentError {
  static override name = 'NamespaceNotFoundError'
}

/** `vpn.detach`: the namespace exists but is not attached to the VPN. */
export class NamespaceNotAttachedError extends InvalidArgumentError {
  static override name = 'NamespaceNotAttachedError'
}

/** `vpn.unmap-port`: no port mapping has that id. */
export class PortMappingNotFoundError extends InvalidArgumentError {
  static override name = 'PortMappingNotFoundError'
}

/** `vpn.map-port`: the port is already mapped, or a local service already uses it on the VPN address. */
export class PortInUseError extends DmsnetError {
  static override name = 'PortInUseError'
}

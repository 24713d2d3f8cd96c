/**
 * Re-creates errors raised in the daemon as their own classes on the client side, so the CLI and
 * scripts can test `err.name` / `instanceof` exactly as they would in process.
 *
 * Feature modules with their own error classes call `registerErrorClass(MyError)` at import time
 * (e.g. in their CLI command's handler file) so the client knows them.
 */
import * as common from '../errors.js'
import { ConfigError, DmsnetError } from '../errors.js'
import * as control from './errors.js'
import { RemoteError } from './errors.js'
import type { WireError } from './protocol.js'

type ErrorClass = new (message: string) => Error

const classes = new Map<string, ErrorClass>()

export function registerErrorClass (cls: ErrorClass & { name: string }): void {
  classes.set(cls.name, cls)
}

for (const value of [...Object.values(common), ...Object.values(control)]) {
  if (typeof value === 'function' && value.prototype instanceof Error) registerErrorClass(value as ErrorClass)
}
registerErrorClass(DmsnetError)

export function fromWireError (wire: WireError): Error {
  if (wire.name === 'ConfigError') {
    return new ConfigError(wire.message, (wire.issues ?? []) as ConstructorParameters<typeof ConfigError>[1])
  }
  const cls = classes.get(wire.name)
  if (cls == null || (cls as unknown) === RemoteError) return new RemoteError(wire.name, wire.message)
  return new cls(wire.message)
}

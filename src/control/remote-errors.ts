/**
 * Re-creates errors raised in the daemon as their own classes on the client side, with their
 * fields, so the CLI and scripts can test `err.name`, `instanceof` and `err.reason` exactly as
 * they would in process. The classes and fields come from the static error catalogue
 * (catalogue/errors.ts); a name it does not list arrives as a RemoteError keeping that name.
 */
import { errorCatalogue, type ErrorEntry } from './catalogue/errors.js'
import { RemoteError } from './errors.js'
import type { WireError } from './protocol.js'

export function fromWireError (wire: WireError, catalogue: ReadonlyMap<string, ErrorEntry> = errorCatalogue): Error {
  const entry = catalogue.get(wire.name)
  if (entry == null || (entry.cls as unknown) === RemoteError) return new RemoteError(wire.name, wire.message)
  // the Error constructor only (a stack from here, the message from the daemon): the classes'
  // own constructors take different arguments, and the fields are set from the wire below
  const err = Reflect.construct(Error, [wire.message], entry.cls) as Error & Record<string, unknown>
  err.name = wire.name
  if (entry.fields != null && wire.fields != null) {
    // a field that does not match its declaration is left off rather than passed on malformed
    for (const [key, schema] of Object.entries(entry.fields.shape)) {
      if (!(key in wire.fields)) continue
      const r = schema.safeParse(wire.fields[key])
      if (r.success) err[key] = r.data
    }
  }
  return err
}

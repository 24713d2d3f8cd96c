/**
 * Wire format of the control API: HTTP/1.1 + JSON over a unix socket.
 *
 *   POST /v1/call   {"method": "node.status", "params": {...}}
 *     -> 200 {"result": ...}                      (unary method)
 *     -> 200 NDJSON lines {"data": ...}, then {"end": true}   (streaming method)
 *     -> 4xx/5xx {"error": {"name", "message", "fields"?}}
 *   A streaming method that fails after it started sends a last line {"error": {...}}.
 *
 * Every request carries the daemon's token (a random file in the data dir) in `TOKEN_HEADER`.
 * HTTP keeps the protocol debuggable with curl (`curl --unix-socket`), and NDJSON streams need
 * no framing of our own. Which errors may appear, and their `fields`, is the error catalogue
 * (catalogue/errors.ts).
 */
import { ConfigError, InvalidArgumentError, UnauthorizedError } from '../errors.js'
import { errorCatalogue } from './catalogue/errors.js'
import { ControlProtocolError, MethodNotFoundError, RequestTimeoutError, RequestTooLargeError } from './errors.js'

export const CALL_PATH = '/v1/call'
export const TOKEN_HEADER = 'x-dmsnet-token'
export const NDJSON = 'application/x-ndjson'
/** Requests larger than this are refused: parameters are small, bulk data does not go over control. */
export const MAX_REQUEST_BYTES = 1024 * 1024

export interface CallRequest {
  method: string
  params?: unknown
}

export interface WireError {
  name: string
  message: string
  /** The error's own fields (`reason`, `issues`, `command`, ...) as the error catalogue declares them. */
  fields?: Record<string, unknown>
}

export type StreamLine = { data: unknown } | { end: true } | { error: WireError }

/** Turns any thrown value into what travels on the wire: name, message and declared fields, never a stack. */
export function toWireError (err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) }
  const out: WireError = { name: err.name, message: err.message }
  const fields = errorCatalogue.get(err.name)?.fields
  if (fields != null) {
    const picked: Record<string, unknown> = {}
    for (const key of Object.keys(fields.shape)) {
      const v = (err as unknown as Record<string, unknown>)[key]
      if (v !== undefined) picked[key] = v
    }
    if (Object.keys(picked).length > 0) out.fields = picked
  }
  return out
}

/** HTTP status for an error (subclasses included); the name, not the status, is what the client acts on. */
export function statusFor (err: WireError): number {
  const cls = errorCatalogue.get(err.name)?.cls
  const is = (parent: abstract new (...args: never[]) => Error): boolean => cls != null && (cls === parent || cls.prototype instanceof parent)
  if (is(UnauthorizedError)) return 401
  if (is(MethodNotFoundError)) return 404
  if (is(RequestTooLargeError)) return 413
  if (is(RequestTimeoutError)) return 408
  if (is(InvalidArgumentError) || is(ConfigError) || is(ControlProtocolError)) return 400
  return 500
}

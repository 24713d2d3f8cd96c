/**
 * Wire format of the control API: HTTP/1.1 + JSON over a unix socket.
 *
 *   POST /v1/call   {"method": "node.status", "params": {...}}
 *     -> 200 {"result": ...}                      (unary method)
 *     -> 200 NDJSON lines {"data": ...}, then {"end": true}   (streaming method)
 *     -> 4xx/5xx {"error": {"name", "message", "issues"?}}
 *   A streaming method that fails after it started sends a last line {"error": {...}}.
 *
 * Every request carries the daemon's token (a random file in the data dir) in `TOKEN_HEADER`.
 * HTTP keeps the protocol debuggable with curl (`curl --unix-socket`), and NDJSON streams need
 * no framing of our own.
 */
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
  /** ConfigError-style details (key, value, expected), when the error has them. */
  issues?: unknown[]
}

export type StreamLine = { data: unknown } | { end: true } | { error: WireError }

/** Turns any thrown value into what travels on the wire (name + message, never a stack). */
export function toWireError (err: unknown): WireError {
  if (err instanceof Error) {
    const out: WireError = { name: err.name, message: err.message }
    const issues = (err as { issues?: unknown }).issues
    if (Array.isArray(issues)) out.issues = issues
    return out
  }
  return { name: 'Error', message: String(err) }
}

/** HTTP status for an error name; the name, not the status, is what the client acts on. */
export function statusFor (err: WireError): number {
  switch (err.name) {
    case 'UnauthorizedError': return 401
    case 'MethodNotFoundError': return 404
    case 'RequestTooLargeError': return 413
    case 'InvalidArgumentError':
    case 'ConfigError':
    case 'ControlProtocolError': return 400
    default: return 500
  }
}

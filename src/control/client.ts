/**
 * The control client the CLI (and tests, and scripts) use to drive a running daemon.
 *
 *   const client = createControlClient({ socket, tokenFile })
 *   const status = await client.call('node.status')                    // typed: NodeStatus
 *   const r = await client.call('messaging.send', { peer, type: 'x' })  // params checked, result typed
 *   for await (const msg of client.stream('messaging.subscribe', { topic })) { ... }
 *
 * Method names, params and results come from the catalogue (catalogue/index.ts): a renamed
 * field fails to compile. `callUnchecked` / `streamUnchecked` take any name, for names known only
 * at run time (`dmsnet call`). Errors raised by the daemon are re-thrown as their own classes
 * with their fields (see remote-errors.ts); a daemon that is not running shows up as
 * DaemonNotRunningError. Replies are bounded (`maxResponseBytes` per body or stream line):
 * past it the connection is dropped with ResponseTooLargeError.
 */
import { request, type IncomingMessage } from 'node:http'
import type { AbortOptions } from '@libp2p/interface'
import { UnauthorizedError } from '../errors.js'
import { ControlProtocolError, DaemonNotRunningError, ResponseTooLargeError } from './errors.js'
import { CALL_PATH, TOKEN_HEADER, type StreamLine, type WireError } from './protocol.js'
import { fromWireError } from './remote-errors.js'
import type { DmsnetApi } from './catalogue/index.js'
import type { CallArgs, Catalogue, ResultOf, StreamName, UnaryName } from './spec.js'
import { defaultTokenFile } from './server.js'
import { readToken } from './token.js'

export interface ControlClientOptions {
  socket: string
  /** Default `<socket dir>/control.token`. */
  tokenFile?: string
  /** Use this token instead of reading the file (tests). */
  token?: string
  /** Largest unary reply body, and largest line of a stream, accepted (bytes). Default 64 MiB. */
  maxResponseBytes?: number
}

/** Default bound of one reply: far above any status or listing a daemon sends, far below a crash. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024

/** A client typed against a catalogue: the dmsnet one unless another is given (tests, embedders). */
export interface ControlClient<C extends Catalogue = DmsnetApi> {
  /** Calls a unary method and returns its result. */
  call: <M extends UnaryName<C>>(method: M, ...args: CallArgs<C[M]>) => Promise<ResultOf<C[M]>>
  /** Calls a streaming method; yields each value. Breaking out of the loop cancels the call. */
  stream: <M extends StreamName<C>>(method: M, ...args: CallArgs<C[M]>) => AsyncGenerator<ResultOf<C[M]>, void, undefined>
  /** `call` for a method name known only at run time: nothing is checked at compile time. */
  callUnchecked: (method: string, params?: unknown, options?: AbortOptions) => Promise<unknown>
  /** `stream` for a method name known only at run time. */
  streamUnchecked: (method: string, params?: unknown, options?: AbortOptions) => AsyncGenerator<unknown, void, undefined>
}

const NOT_RUNNING_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK'])

export function createControlClient<C extends Catalogue = DmsnetApi> (options: ControlClientOptions): ControlClient<C> {
  const { socket } = options
  const tokenFile = options.tokenFile ?? defaultTokenFile(socket)
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES

  function tooLarge (res: IncomingMessage, method: string, what: string): ResponseTooLargeError {
    res.destroy()
    return new ResponseTooLargeError(`${method}: the daemon's ${what} is larger than ${maxResponseBytes} bytes`)
  }

  function notRunning (): DaemonNotRunningError {
    return new DaemonNotRunningError(`the dmsnet daemon is not running (no control socket at ${socket}); start it with "dmsnet up"`)
  }

  // read once and kept: a file read per call cost more than the call itself. A daemon restart
  // writes a new token; `post` re-reads it once when the daemon answers 401.
  let cachedToken: string | undefined
  async function token (fresh = false): Promise<string> {
    if (options.token != null) return options.token
    if (cachedToken != null && !fresh) return cachedToken
    try {
      cachedToken = await readToken(tokenFile)
      return cachedToken
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') throw notRunning()
      if (code === 'EACCES') throw new UnauthorizedError(`cannot read the control token ${tokenFile}: run as the daemon's user`)
      throw err
    }
  }

  async function post (method: string, params: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const hadToken = cachedToken != null
    const res = await postOnce(method, params, await token(), signal)
    if (res.statusCode !== 401 || !hadToken || options.token != null) return res
    res.resume()
    return await postOnce(method, params, await token(true), signal)
  }

  async function postOnce (method: string, params: unknown, tok: string, signal?: AbortSignal, fresh = false): Promise<IncomingMessage> {
    const body = JSON.stringify({ method, params: params ?? {} })
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({
        socketPath: socket,
        path: CALL_PATH,
        method: 'POST',
        signal,
        // a retry gets a connection of its own, never another pooled one
        ...(fresh ? { agent: false } : {}),
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [TOKEN_HEADER]: tok }
      }, resolve)
      req.once('error', (err: NodeJS.ErrnoException) => {
        // Node's keep-alive race: the daemon closed an idle pooled connection just as this request
        // went out on it, so the daemon never read the request. Node's documented remedy is one
        // retry on a new connection; a reset on a new connection means the daemon went away.
        if (err.code === 'ECONNRESET' && req.reusedSocket && !fresh && signal?.aborted !== true) {
          postOnce(method, params, tok, signal, true).then(resolve, reject)
          return
        }
        if (NOT_RUNNING_CODES.has(err.code ?? '')) reject(notRunning())
        else if (err.code === 'ECONNRESET') reject(new DaemonNotRunningError(`the daemon closed the connection during ${method} (did it stop?)`))
        else reject(err)
      })
      req.end(body)
    })
  }

  async function readAll (res: IncomingMessage, method: string): Promise<string> {
    if (Number(res.headers['content-length'] ?? 0) > maxResponseBytes) throw tooLarge(res, method, 'reply')
    const chunks: Buffer[] = []
    let size = 0
    for await (const c of res) {
      size += (c as Buffer).byteLength
      if (size > maxResponseBytes) throw tooLarge(res, method, 'reply')
      chunks.push(c as Buffer)
    }
    return Buffer.concat(chunks).toString('utf8')
  }

  function parse (text: string): Record<string, unknown> {
    try {
      const v: unknown = JSON.parse(text)
      if (typeof v === 'object' && v != null) return v as Record<string, unknown>
    } catch {
      // fall through to the protocol error below
    }
    throw new ControlProtocolError(`daemon sent a malformed reply: ${text.slice(0, 200)}`)
  }

  async function callUnchecked (method: string, params?: unknown, opts?: AbortOptions): Promise<unknown> {
    const res = await post(method, params, opts?.signal)
    if (res.headers['content-type']?.startsWith('application/x-ndjson') === true) {
      res.destroy()
      throw new ControlProtocolError(`${method} is a streaming method: use stream()`)
    }
    const reply = parse(await readAll(res, method))
    if (reply.error != null) throw fromWireError(reply.error as WireError)
    return reply.result
  }

  async function * streamUnchecked (method: string, params?: unknown, opts?: AbortOptions): AsyncGenerator<unknown, void, undefined> {
    const res = await post(method, params, opts?.signal)
    if (res.headers['content-type']?.startsWith('application/x-ndjson') !== true) {
      const reply = parse(await readAll(res, method))
      if (reply.error != null) throw fromWireError(reply.error as WireError)
      throw new ControlProtocolError(`${method} is not a streaming method: use call()`)
    }
    let buf = ''
    let ended = false
    // decoded across chunks: a character split between two chunks stays one character
    res.setEncoding('utf8')
    try {
      for await (const chunk of res) {
        buf += chunk as string
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line.trim() === '') continue
          const msg = parse(line) as StreamLine
          if ('error' in msg) throw fromWireError(msg.error)
          if ('end' in msg) { ended = true; return }
          yield msg.data
        }
        // a line without its newline yet: bounded (UTF-16 length <= bytes, so this never cuts early)
        if (buf.length > maxResponseBytes) throw tooLarge(res, method, 'stream line')
      }
      if (!ended) throw new DaemonNotRunningError(`daemon closed the ${method} stream (it stopped?)`)
    } finally {
      // leaving the loop early closes the connection; the daemon aborts the call's signal
      if (!ended) res.destroy()
    }
  }

  return {
    // the types come from the catalogue; on the wire a typed call is the same request
    call: (async (method: string, params?: unknown, opts?: AbortOptions) => await callUnchecked(method, params, opts)) as ControlClient<C>['call'],
    stream: ((method: string, params?: unknown, opts?: AbortOptions) => streamUnchecked(method, params, opts)) as ControlClient<C>['stream'],
    callUnchecked,
    streamUnchecked
  }
}

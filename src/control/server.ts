/**
 * The control server: HTTP over a unix socket in the data dir (socket 0600, dir 0700), token
 * checked on every request, calls dispatched through the method registry.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import { connect } from 'node:net'
import { chmod, mkdir, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { once } from 'node:events'
import type { AbortOptions } from '@libp2p/interface'
import { AlreadyStartedError, ConfigError, UnauthorizedError } from '../errors.js'
import { readBoundedBody } from './body.js'
import { ControlProtocolError, RequestTimeoutError, RequestTooLargeError } from './errors.js'
import { CALL_PATH, MAX_REQUEST_BYTES, NDJSON, TOKEN_HEADER, statusFor, toWireError, type CallRequest, type StreamLine } from './protocol.js'
import type { MethodRegistry } from './registry.js'
import { tokenMatches, writeToken } from './token.js'

/** The few pino methods the server uses, so it can run with or without a real logger. */
export interface ControlLogger {
  debug: (obj: object, msg?: string) => void
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
}

export interface ControlServerOptions {
  /** Unix socket path. Linux limits it to ~107 bytes. */
  socket: string
  /** Token file path; default `<socket dir>/control.token`. */
  tokenFile?: string
  registry: MethodRegistry
  logger?: ControlLogger
  /** Told about every finished call (metrics). `outcome` is `ok` or the error's name. */
  onCall?: (method: string, outcome: string, ms: number) => void
}

export interface ControlServer {
  readonly socket: string
  readonly tokenFile: string
  start (options?: AbortOptions): Promise<void>
  /** Aborts running calls, closes connections, removes the socket and token file. */
  stop (options?: AbortOptions): Promise<void>
}

export function defaultTokenFile (socket: string): string {
  return `${dirname(socket)}/control.token`
}

/** Linux `sockaddr_un.sun_path` is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107

/** Time a request body may take to arrive (the local CLI sends it at once). */
const BODY_TIMEOUT_MS = 10_000

const noopLogger: ControlLogger = { debug () {}, info () {}, warn () {} }

/** true when something accepts connections on the socket (another daemon is running). */
async function socketAlive (path: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = connect(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

/** Throws a ConfigError for a socket path longer than the kernel accepts (an obscure EINVAL otherwise). */
export function assertSocketPath (socket: string): void {
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new ConfigError(`invalid configuration:\ncontrol.socket: got "${socket}", expected a path of at most ${MAX_SOCKET_PATH} bytes`, [{ key: 'control.socket', value: socket, expected: `a path of at most ${MAX_SOCKET_PATH} bytes (a unix socket limit); use a shorter data dir or set control.socket` }])
  }
}

/** Throws AlreadyStartedError when a daemon already answers on `socket` (checked before a node starts anything). */
export async function assertNoDaemon (socket: string): Promise<void> {
  if (await socketAlive(socket)) throw new AlreadyStartedError(`another dmsnet daemon is already running (control socket ${socket})`)
}

export function createControlServer (options: ControlServerOptions): ControlServer {
  const { socket, registry } = options
  const tokenFile = options.tokenFile ?? defaultTokenFile(socket)
  const log = options.logger ?? noopLogger
  let server: Server | undefined
  let token = ''
  const running = new Set<AbortController>()

  async function readBody (req: IncomingMessage): Promise<CallRequest> {
    const bytes = await readBoundedBody(req, { maxBytes: MAX_REQUEST_BYTES, timeoutMs: BODY_TIMEOUT_MS })
    let body: unknown
    try {
      body = JSON.parse(bytes.toString('utf8'))
    } catch {
      throw new ControlProtocolError('request body is not JSON')
    }
    if (typeof body !== 'object' || body == null || typeof (body as CallRequest).method !== 'string') {
      throw new ControlProtocolError('request must be {"method": string, "params"?: any}')
    }
    return body as CallRequest
  }

  function sendJson (res: ServerResponse, status: number, value: unknown): void {
    const text = JSON.stringify(value)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  /** A client that stops reading and then leaves never sends 'drain': the signal ends the wait. */
  async function writeLine (res: ServerResponse, line: StreamLine, signal: AbortSignal): Promise<void> {
    if (!res.write(JSON.stringify(line) + '\n')) await once(res, 'drain', { signal })
  }

  async function onRequest (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController()
    running.add(controller)
    // 'close' before the response finished = the client went away: stop the work.
    res.once('close', () => { if (!res.writableFinished) controller.abort(new Error('control client disconnected')) })
    let streaming = false
    let method = '?'
    let outcome = 'ok'
    const t0 = performance.now()
    try {
      if (req.method !== 'POST' || req.url !== CALL_PATH) throw new ControlProtocolError(`use POST ${CALL_PATH}`)
      const given = req.headers[TOKEN_HEADER]
      if (!tokenMatches(token, typeof given === 'string' ? given : undefined)) {
        throw new UnauthorizedError('control token missing or wrong')
      }
      const call = await readBody(req)
      method = call.method
      const entry = registry.get(call.method)
      const params = registry.parseParams(entry, call.params)
      log.debug({ method }, 'control call')
      const ctx = { signal: controller.signal }
      if (entry.kind === 'unary') {
        const result = await entry.handler(params, ctx)
        sendJson(res, 200, { result: result ?? null })
        return
      }
      streaming = true
      res.writeHead(200, { 'content-type': NDJSON })
      res.flushHeaders()
      for await (const data of entry.handler(params, ctx)) {
        if (controller.signal.aborted) break
        await writeLine(res, { data }, controller.signal)
      }
      if (!controller.signal.aborted) await writeLine(res, { end: true }, controller.signal)
      res.end()
    } catch (err) {
      const wire = toWireError(err)
      outcome = wire.name
      log.debug({ method, err: wire }, 'control call failed')
      if (res.destroyed) return
      if (streaming) {
        res.end(JSON.stringify({ error: wire }) + '\n')
      } else if (!res.headersSent) {
        // stop reading an oversized body: answer, then close the connection
        if (err instanceof RequestTooLargeError || err instanceof RequestTimeoutError) res.setHeader('connection', 'close')
        sendJson(res, statusFor(wire), { error: wire })
      } else {
        res.destroy()
      }
    } finally {
      running.delete(controller)
      // unknown method names are not recorded as such: they would grow the label set without bound
      options.onCall?.(registry.has(method) ? method : '(other)', outcome, performance.now() - t0)
    }
  }

  return {
    socket,
    tokenFile,
    async start () {
      if (server != null) throw new AlreadyStartedError('control server already started')
      assertSocketPath(socket)
      const dir = dirname(socket)
      // Only a directory we create is forced to 0700: chmod-ing an existing one (say /tmp, when
      // control.socket points there) would break other users. The socket itself is 0600 anyway.
      const made = await mkdir(dir, { recursive: true, mode: 0o700 })
      if (made != null) {
        await chmod(dir, 0o700)
      } else if (((await stat(dir)).mode & 0o077) !== 0) {
        log.warn({ dir }, 'the control socket directory is open to other users; the socket itself is 0600')
      }
      const existing = await stat(socket).catch(() => undefined)
      if (existing != null) {
        if (await socketAlive(socket)) throw new AlreadyStartedError(`another dmsnet daemon is already running (control socket ${socket})`)
        await rm(socket, { force: true }) // left behind by a daemon that crashed
      }
      token = await writeToken(tokenFile)
      const srv = createServer((req, res) => { void onRequest(req, res) })
      srv.on('clientError', (_err, sock) => { sock.destroy() })
      // a local client that opens a connection and sends nothing must not hold it for minutes
      srv.headersTimeout = 10_000
      srv.requestTimeout = 30_000
      const oldMask = process.umask(0o177) // the socket is created 0600, no window with wider rights
      try {
        srv.listen(socket)
        await once(srv, 'listening')
      } finally {
        process.umask(oldMask)
      }
      await chmod(socket, 0o600)
      server = srv
      log.info({ socket }, 'control API listening')
    },
    async stop () {
      const srv = server
      if (srv == null) return
      server = undefined
      for (const c of running) c.abort(new Error('daemon stopping'))
      const closed = new Promise<void>(resolve => srv.close(() => { resolve() }))
      srv.closeAllConnections()
      await closed
      await rm(socket, { force: true })
      await rm(tokenFile, { force: true })
    }
  }
}

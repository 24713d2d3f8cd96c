/**
 * The status page's HTTP server, on a loopback address only. Every route but /login needs a
 * session cookie (see sessions.ts); /api/call runs a short list of read-only control methods
 * through the same registry the CLI's calls go through, and /api/events streams `node.events` (feed.ts)
 * as server-sent events. The Host and Origin checks stop a web page elsewhere from reaching it through
 * DNS rebinding or a cross-site form; the CSP keeps the page to its own bundled assets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AbortOptions } from '@libp2p/interface'
import { ConfigError, UnauthorizedError } from '../errors.js'
import { readBoundedBody } from '../control/body.js'
import { ControlProtocolError, RequestTimeoutError, RequestTooLargeError } from '../control/errors.js'
import { statusFor, toWireError } from '../control/protocol.js'
import type { MethodRegistry } from '../control/registry.js'
import type { DmsnetMethod } from '../control/catalogue/index.js'
import { isLoopbackHost } from '../metrics.js'
import type { EventFeed } from './feed.js'
import type { SessionStore } from './sessions.js'

/** What the page may call: read-only methods only (the page never changes the node). */
export const UI_METHODS = ['node.status', 'node.peers', 'swarm.status', 'vpn.status', 'messaging.stats', 'control.methods'] as const satisfies readonly DmsnetMethod[]
export type UiMethod = typeof UI_METHODS[number]
/** Bytes queued for one browser's event feed before it is cut off. */
const MAX_PENDING_FEED_BYTES = 256 * 1024
const MAX_BODY = 16 * 1024
const ASSETS: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css'
}
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' }
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store'
}

export interface UiServerOptions {
  host: string
  port: number
  sessions: SessionStore
  /** The registry, once control methods are registered (before that the API answers 503). */
  registry: () => MethodRegistry | undefined
  /** The live event feed (same lifetime as the registry). */
  feed: () => EventFeed | undefined
  /** Directory with the built page (index.html, app.js, app.css); default: the package's dist/ui. */
  assetsDir?: string
  /** Time a request body may take to arrive, ms (default 10 s; then 408 RequestTimeoutError). */
  bodyTimeoutMs?: number
}

export interface UiServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly origin: string
  readonly cookieName: string
  /** Requests refused with an error, by its name (bad bodies, oversized or too slow, forbidden methods...). */
  readonly refused: Readonly<Record<string, number>>
  stop: (options?: AbortOptions) => Promise<void>
}

/** dist/ui of the package this file belongs to (from src/ui under tsx or dist/src/ui). */
export function defaultAssetsDir (): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'dist'))) return join(dir, 'dist', 'ui')
    if (dirname(dir) === dir) return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui')
  }
}

function cookie (req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return undefined
}

function sendJson (res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function sendText (res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' })
  res.end(text + '\n')
}

async function readJson (req: IncomingMessage, timeoutMs: number): Promise<{ method?: unknown, params?: unknown }> {
  const bytes = await readBoundedBody(req, { maxBytes: MAX_BODY, timeoutMs })
  try {
    const body = JSON.parse(bytes.toString('utf8')) as unknown
    if (typeof body === 'object' && body != null) return body
  } catch {
    // not JSON: answered below like any other malformed request
  }
  throw new ControlProtocolError('request must be {"method": string, "params"?: object}')
}

export async function startUiServer (options: UiServerOptions): Promise<UiServer> {
  const { sessions } = options
  if (!isLoopbackHost(options.host)) {
    // the page shows peers, addresses and traffic: never beyond this machine
    throw new ConfigError(`invalid configuration:\nui.host: got "${options.host}", expected a loopback address (127.0.0.1, ::1 or localhost)`, [{ key: 'ui.host', value: options.host, expected: 'a loopback address (127.0.0.1, ::1 or localhost)' }])
  }
  const assetsDir = options.assetsDir ?? defaultAssetsDir()
  const running = new Set<AbortController>()
  const refused: Record<string, number> = {}
  let port = 0
  let cookieName = 'dmsnet_ui'
  const hostName = options.host.includes(':') ? `[${options.host}]` : options.host

  /** Host must name this server (a rebinding attack sends its own domain); Origin, when sent, too. */
  function sameOrigin (req: IncomingMessage): boolean {
    const host = req.headers.host ?? ''
    const allowed = [`${hostName}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]
    if (!allowed.includes(host)) return false
    const origin = req.headers.origin
    return origin == null || allowed.some(a => origin === `http://${a}`)
  }

  async function serveAsset (res: ServerResponse, file: string): Promise<void> {
    let body: Buffer
    try {
      body = await readFile(join(assetsDir, file))
    } catch {
      sendText(res, 500, `the status page is not built (${join(assetsDir, file)} missing): run "npm run build"`)
      return
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES[file.split('.').pop() ?? ''] ?? 'application/octet-stream', 'content-length': body.length })
    res.end(body)
  }

  async function call (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const registry = options.registry()
    if (registry == null) { sendJson(res, 503, { error: { name: 'NotStartedError', message: 'the node is still starting' } }); return }
    const body = await readJson(req, options.bodyTimeoutMs ?? 10_000)
    if (typeof body.method !== 'string' || !(UI_METHODS as readonly string[]).includes(body.method)) {
      throw new UnauthorizedError(`the status page may not call "${String(body.method)}" (read-only methods: ${UI_METHODS.join(', ')})`)
    }
    const entry = registry.get(body.method)
    if (entry.kind !== 'unary') throw new ControlProtocolError(`${body.method} is a stream`)
    const result = await entry.handler(registry.parseParams(entry, body.params), { signal })
    sendJson(res, 200, { result: result ?? null })
  }

  async function events (res: ServerResponse, signal: AbortSignal): Promise<void> {
    const feed = options.feed()
    if (feed == null) { sendJson(res, 503, { error: { name: 'NotStartedError', message: 'the node is still starting' } }); return }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' })
    const send = (ev: unknown): void => {
      // a browser that stops reading is cut off (it reconnects and gets the backlog), never buffered without bound
      if (res.writableLength > MAX_PENDING_FEED_BYTES) { res.destroy(); return }
      res.write(`data: ${JSON.stringify(ev)}\n\n`)
    }
    for (const ev of feed.recent()) send(ev)
    res.write(': live\n\n')
    const off = feed.subscribe(send)
    // a comment now and then keeps proxies and idle timers from closing a quiet feed
    const keepAlive = setInterval(() => { res.write(': keep-alive\n\n') }, 15_000)
    try {
      if (!signal.aborted) await once(signal, 'abort')
    } finally {
      off()
      clearInterval(keepAlive)
      res.end()
    }
  }

  async function onRequest (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController()
    running.add(controller)
    res.once('close', () => { controller.abort(new Error('ui client disconnected')) })
    try {
      const url = new URL(req.url ?? '/', 'http://x')
      if (!sameOrigin(req)) { sendText(res, 403, 'forbidden: open the page through the address `dmsnet ui` prints'); return }
      if (req.method === 'GET' && url.pathname === '/login') {
        const session = sessions.redeem(url.searchParams.get('code') ?? '')
        if (session == null) { sendText(res, 401, 'this login link is invalid, used or expired: run `dmsnet ui` for a new one'); return }
        res.writeHead(303, {
          ...SECURITY_HEADERS,
          'set-cookie': `${cookieName}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200`,
          location: '/'
        })
        res.end()
        return
      }
      if (!sessions.valid(cookie(req, cookieName))) {
        if (url.pathname.startsWith('/api/')) throw new UnauthorizedError('no valid session: open the link `dmsnet ui` prints')
        sendText(res, 401, 'not logged in: run `dmsnet ui` and open the link it prints')
        return
      }
      if (req.method === 'POST' && url.pathname === '/api/call') { await call(req, res, controller.signal); return }
      if (req.method === 'GET' && url.pathname === '/api/events') { await events(res, controller.signal); return }
      const asset = ASSETS[url.pathname]
      if (req.method === 'GET' && asset != null) { await serveAsset(res, asset); return }
      sendText(res, 404, 'not found')
    } catch (err) {
      const wire = toWireError(err)
      refused[wire.name] = (refused[wire.name] ?? 0) + 1
      if (res.headersSent || res.destroyed) { res.destroy(); return }
      if (err instanceof RequestTooLargeError || err instanceof RequestTimeoutError) res.setHeader('connection', 'close')
      sendJson(res, statusFor(wire), { error: wire })
    } finally {
      running.delete(controller)
    }
  }

  const server: Server = createServer((req, res) => { void onRequest(req, res) })
  server.on('clientError', (_err, sock) => { sock.destroy() })
  server.headersTimeout = 10_000
  server.requestTimeout = 0 // the event feed is a long request; idle sockets still time out below
  server.keepAliveTimeout = 5_000
  server.listen(options.port, options.host)
  try {
    await once(server, 'listening')
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err
    throw new ConfigError(`invalid configuration:\nui.port: got "${options.port}", expected a free port (${options.host}:${options.port} is in use; 0 picks a free one)`, [{ key: 'ui.port', value: options.port, expected: 'a free port, or 0 for any free port' }])
  }
  const addr = server.address()
  port = typeof addr === 'object' && addr != null ? addr.port : options.port
  // cookies ignore ports: several daemons on one machine must not log each other out
  cookieName = `dmsnet_ui_${port}`

  return {
    origin: `http://${hostName}:${port}`,
    cookieName,
    refused,
    async stop () {
      for (const c of running) c.abort(new Error('daemon stopping'))
      const closed = new Promise<void>(resolve => server.close(() => { resolve() }))
      server.closeAllConnections()
      await closed
    }
  }
}

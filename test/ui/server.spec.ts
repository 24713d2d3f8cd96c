// The status page server on its own (real HTTP on loopback, an empty method registry): where it may
// listen, a port in use, the Host/Origin checks that stop DNS rebinding and cross-site calls, and
// the bounds on a request body (size, time to arrive).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { controlApi } from '../../src/control/catalogue/index.js'
import { createMethodRegistry } from '../../src/control/registry.js'
import { createSessionStore } from '../../src/ui/sessions.js'
import { startUiServer } from '../../src/ui/server.js'
import { bound } from '../helpers/wait.js'

function get (origin: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, cookie: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}${path}`, { headers }, res => {
      res.resume()
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, cookie: String(res.headers['set-cookie'] ?? '').split(';')[0] ?? '' }) })
    })
    req.on('error', reject)
    req.end()
  })
}

test('ui server: loopback only; a port in use is a ConfigError naming ui.port', async (t) => {
  const registry = createMethodRegistry()
  const base = { port: 0, sessions: createSessionStore(), registry: () => registry, feed: () => undefined }
  await assert.rejects(startUiServer({ ...base, host: '0.0.0.0' }), (err: Error & { issues?: Array<{ key: string }> }) => err.name === 'ConfigError' && err.issues?.[0]?.key === 'ui.host')
  const first = await startUiServer({ ...base, host: '127.0.0.1' })
  t.after(async () => { await first.stop() })
  const port = Number(new URL(first.origin).port)
  assert.ok(port > 0)
  await assert.rejects(startUiServer({ ...base, host: '127.0.0.1', port }), (err: Error & { issues?: Array<{ key: string }> }) => err.name === 'ConfigError' && err.issues?.[0]?.key === 'ui.port' && /is in use/.test(err.message))
})

test('ui server: a foreign Host or Origin is refused before anything else', async (t) => {
  const sessions = createSessionStore()
  const registry = createMethodRegistry()
  const srv = await startUiServer({ host: '127.0.0.1', port: 0, sessions, registry: () => registry, feed: () => undefined })
  t.after(async () => { await srv.stop() })
  const port = new URL(srv.origin).port

  // positive control: the real origin logs in with a fresh code
  const login = await get(srv.origin, `/login?code=${sessions.issueCode().code}`)
  assert.equal(login.status, 303)
  assert.match(login.cookie, new RegExp(`^dmsnet_ui_${port}=`))
  assert.equal((await get(srv.origin, '/api/nothing', { cookie: login.cookie })).status, 404)

  // a rebinding page (its own host name, same IP and port) and a cross-site caller get 403, even with a valid code
  assert.equal((await get(srv.origin, `/login?code=${sessions.issueCode().code}`, { host: `attacker.example:${port}` })).status, 403)
  assert.equal((await get(srv.origin, '/api/nothing', { cookie: login.cookie, origin: 'http://attacker.example' })).status, 403)
  assert.equal((await get(srv.origin, '/api/nothing', { cookie: login.cookie, origin: `http://localhost:${port}` })).status, 404)
  // no cookie: 401 before any route is looked at
  assert.equal((await get(srv.origin, '/api/nothing')).status, 401)
})

test('ui server: a request body that stalls is cut off with 408 RequestTimeoutError, an oversized one with 413; calls meanwhile are answered', async (t) => {
  const sessions = createSessionStore()
  const registry = createMethodRegistry()
  registry.implement(controlApi['control.methods'], () => [])
  const srv = await startUiServer({ host: '127.0.0.1', port: 0, sessions, registry: () => registry, feed: () => undefined, bodyTimeoutMs: bound(1000) })
  t.after(async () => { await srv.stop() })
  const { cookie } = await get(srv.origin, `/login?code=${sessions.issueCode().code}`)
  const post = (body: string | Buffer, opts: { stallAfter?: number } = {}): Promise<{ status: number, text: string }> => new Promise((resolve) => {
    const buf = typeof body === 'string' ? Buffer.from(body) : body
    const req = request(`${srv.origin}/api/call`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'content-length': String(buf.length) } }, res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, text }) })
    })
    req.on('error', (err: NodeJS.ErrnoException) => { resolve({ status: -1, text: err.code ?? err.message }) })
    if (opts.stallAfter != null) req.write(buf.subarray(0, opts.stallAfter)) // the rest never comes
    else req.end(buf)
  })
  const call = JSON.stringify({ method: 'control.methods' })
  const stalled = post(call, { stallAfter: 5 })
  // positive control, while the stalled request waits: a whole body is answered
  assert.equal((await post(call)).status, 200)
  const r = await stalled
  assert.equal(r.status, 408, r.text)
  assert.equal((JSON.parse(r.text) as { error: { name: string } }).error.name, 'RequestTimeoutError')
  const huge = await post(Buffer.alloc(64 * 1024, 0x20))
  assert.ok(huge.status === 413 || (huge.status === -1 && ['EPIPE', 'ECONNRESET'].includes(huge.text)), `oversized body refused (${huge.status} ${huge.text})`)
  assert.equal(srv.refused.RequestTimeoutError, 1)
  assert.equal(srv.refused.RequestTooLargeError, 1)
  assert.equal((await post(call)).status, 200)
})

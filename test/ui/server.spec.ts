// The status page server on its own (real HTTP on loopback, an empty method registry): where it may
// listen, a port in use, and the Host/Origin checks that stop DNS rebinding and cross-site calls.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { createMethodRegistry } from '../../src/control/registry.js'
import { createSessionStore } from '../../src/ui/sessions.js'
import { startUiServer } from '../../src/ui/server.js'

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

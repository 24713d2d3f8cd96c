/**
 * The status page end to end: three real nodes on loopback (A serves the page), a login link
 * from A's control socket (`ui.login`, token required), and headless Chromium: the page shows A's
 * two peers, drops one when it disconnects (through the live feed), and every route refuses a
 * browser without the session cookie, a spent login code and a wrong control token.
 * DMSNET_UI_SCREENSHOT=<file.png> saves a screenshot (docs/ui.md's picture).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { createNode, type DmsnetNode } from '../../src/daemon/node.js'
import { createControlClient } from '../../src/control/client.js'
import { UnauthorizedError } from '../../src/errors.js'
import { launchBrowser, requireChromium } from './browser.js'

async function startNode (t: import('node:test').TestContext, name: string, ui: boolean): Promise<DmsnetNode> {
  const dir = await mkdtemp(join(tmpdir(), `dmsnet-ui-${name}-`))
  const node = createNode(loadConfig({ flags: { dataDir: dir, 'network.listen': ['/ip4/127.0.0.1/tcp/0'], 'logging.level': 'warn', 'ui.enabled': ui } }), { name, setProcessLogLevel: false })
  t.after(async () => { await node.stop(); await rm(dir, { recursive: true, force: true }) })
  await node.start()
  return node
}

function short (id: string): string {
  return `${id.slice(0, 8)}…${id.slice(-6)}`
}

test('status page: two peers shown, a disconnect updates it, no session = refused', { timeout: 120_000 }, async (t) => {
  if (!requireChromium(t)) return
  const a = await startNode(t, 'a', true)
  const b = await startNode(t, 'b', false)
  const c = await startNode(t, 'c', false)
  const addrA = a.network.host.getMultiaddrs()[0]!.toString()
  await b.network.dial(addrA)
  await c.network.dial(addrA)

  // the login link comes only through the control socket with the daemon's token
  await assert.rejects(createControlClient({ socket: a.config.control.socket, token: 'wrong' }).call('ui.login'), UnauthorizedError)
  const login = await createControlClient({ socket: a.config.control.socket }).call('ui.login')
  assert.ok(login.url.startsWith('http://127.0.0.1:'), login.url)

  const browser = await launchBrowser(t)
  const page = browser.pages()[0] ?? await browser.newPage()
  const response = await page.goto(login.url)
  assert.equal(response?.status(), 200)
  assert.equal(new URL(page.url()).pathname, '/', 'the login link leads to the page')

  await page.getByTestId('peer-id').filter({ hasText: a.peerId }).waitFor({ timeout: 20_000 })
  await page.getByTestId('peer-count').filter({ hasText: /^2$/ }).waitFor({ timeout: 20_000 })
  for (const n of [b, c]) {
    const row = page.locator(`tr[data-peer="${n.peerId}"]`).first()
    assert.match(await row.innerText(), /direct/)
  }
  await page.getByTestId('live').filter({ hasText: 'live' }).waitFor({ timeout: 20_000 })
  // the feed replays what happened before the page opened
  await page.getByTestId('events').filter({ hasText: `connected ${short(b.peerId)}` }).waitFor({ timeout: 20_000 })
  if (process.env.DMSNET_UI_SCREENSHOT != null) await page.screenshot({ path: process.env.DMSNET_UI_SCREENSHOT, fullPage: true })

  // C leaves: the page follows (event feed + refresh) without a reload
  await c.stop()
  await page.getByTestId('peer-count').filter({ hasText: /^1$/ }).waitFor({ timeout: 20_000 })
  assert.equal(await page.locator(`tr[data-peer="${c.peerId}"]`).count(), 0)
  assert.equal(await page.locator(`tr[data-peer="${b.peerId}"]`).count() >= 1, true)
  await page.getByTestId('events').filter({ hasText: `not-connected ${short(c.peerId)}` }).waitFor({ timeout: 20_000 })

  // positive control: with the session the page's API answers; a method outside the read-only list does not
  const call = async (method: string): Promise<{ status: number, body: { result?: unknown, error?: { name: string } } }> => await page.evaluate(async (m) => {
    const res = await fetch('/api/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: m }) })
    return { status: res.status, body: await res.json() as { result?: unknown, error?: { name: string } } }
  }, method)
  const ok = await call('node.peers')
  assert.equal(ok.status, 200)
  assert.equal((ok.body.result as unknown[]).length >= 1, true)
  const write = await call('node.shutdown')
  assert.equal(write.status, 401)
  assert.equal(write.body.error?.name, 'UnauthorizedError')
  assert.equal(a.started, true)

  // the same login code a second time: refused
  const again = await browser.request.get(login.url, { maxRedirects: 0 })
  assert.equal(again.status(), 401)

  // without the session cookie: the API, the feed and the page itself are refused
  await browser.clearCookies()
  const noCookie = await call('node.peers')
  assert.equal(noCookie.status, 401)
  assert.equal(noCookie.body.error?.name, 'UnauthorizedError')
  assert.equal(noCookie.body.result, undefined)
  const feed = await page.evaluate(async () => (await fetch('/api/events')).status)
  assert.equal(feed, 401)
  const reload = await page.reload()
  assert.equal(reload?.status(), 401)
  assert.match(await page.innerText('body'), /not logged in/)
})

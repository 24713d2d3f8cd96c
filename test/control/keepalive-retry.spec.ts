/**
 * The control client against Node's keep-alive race: a pooled connection that the daemon closes
 * just as the next request goes out on it. A raw HTTP server on a real unix socket stands in for
 * the daemon and resets chosen requests, so the race happens every time instead of by chance.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import { createControlClient } from '../../src/control/index.js'

interface FakeDaemon { socket: string, answered: number, reset: number, connections: number }

/** Answers `{ result: n }`; `resetWhen(k, onReusedConn)` decides which requests get a reset instead. */
async function fakeDaemon (t: import('node:test').TestContext, resetWhen: (k: number, reused: boolean) => boolean): Promise<FakeDaemon> {
  const base = await mkdtemp(join(tmpdir(), 'dmsnet-ka-'))
  const d: FakeDaemon = { socket: join(base, 'control.sock'), answered: 0, reset: 0, connections: 0 }
  const seen = new WeakMap<Socket, number>()
  let k = 0
  const server: Server = createServer((req, res) => {
    const onConn = seen.get(req.socket) ?? 0
    seen.set(req.socket, onConn + 1)
    req.resume()
    req.on('end', () => {
      if (resetWhen(k++, onConn > 0)) {
        d.reset++
        req.socket.destroy()
        return
      }
      d.answered++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: d.answered }))
    })
  })
  server.on('connection', () => { d.connections++ })
  await new Promise<void>(resolve => server.listen(d.socket, resolve))
  t.after(async () => {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
    await rm(base, { recursive: true, force: true })
  })
  return d
}

test('a request reset on a reused keep-alive connection is sent once more on a new one', async (t) => {
  // the second request (the first on a reused connection) is reset, as when the daemon closes
  // an idle connection while the request is on its way
  const d = await fakeDaemon(t, (k, reused) => k === 1 && reused)
  const client = createControlClient({ socket: d.socket, token: 't' })
  assert.equal(await client.callUnchecked('test.any'), 1)
  assert.equal(await client.callUnchecked('test.any'), 2)
  assert.equal(d.reset, 1, 'the second request went out on the pooled connection and was reset')
  assert.equal(d.answered, 2)
  assert.ok(d.connections >= 2, 'the retry used a new connection')
})

test('a reset on a new connection is not retried: the caller gets DaemonNotRunningError', async (t) => {
  // control for the test above: a daemon that resets its first request on a fresh connection
  const d = await fakeDaemon(t, (k) => k === 0)
  const client = createControlClient({ socket: d.socket, token: 't' })
  await assert.rejects(client.callUnchecked('test.any'), { name: 'DaemonNotRunningError' })
  assert.equal(d.reset, 1)
  assert.equal(d.answered, 0, 'sent once, not retried')
})

test('a reset of the retry too is reported, not retried again', async (t) => {
  // every request after the first is reset: the pooled attempt and its one retry
  const d = await fakeDaemon(t, (k) => k >= 1)
  const client = createControlClient({ socket: d.socket, token: 't' })
  assert.equal(await client.callUnchecked('test.any'), 1)
  await assert.rejects(client.callUnchecked('test.any'), { name: 'DaemonNotRunningError' })
  assert.equal(d.reset, 2, 'one pooled attempt and exactly one retry')
})

/**
 * Control API over a real unix socket: calls, streams, typed errors, token check, permissions.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:http'
import { z } from 'zod'
import { catalogue, createControlClient, createControlServer, createMethodRegistry, stream, unary, CALL_PATH, TOKEN_HEADER } from '../../src/control/index.js'
import { InvalidArgumentError, PeerNotFoundError, UnauthorizedError, AlreadyStartedError } from '../../src/errors.js'
import { DaemonNotRunningError, MethodNotFoundError } from '../../src/control/errors.js'
import { pause } from '../helpers/wait.js'

/** The methods these tests serve: a catalogue of their own, typed like the dmsnet one. */
const api = catalogue(
  unary('test.add', { description: 'a + b', params: z.object({ a: z.number(), b: z.number() }), result: z.object({ sum: z.number() }) }),
  unary('test.fail', { description: 'always throws PeerNotFoundError', result: z.never(), errors: [PeerNotFoundError] }),
  unary('test.ping', { description: 'pong', result: z.literal('pong') }),
  stream('test.count', { description: '0..n-1', params: z.object({ n: z.number().int().max(100) }), result: z.object({ i: z.number() }) }),
  stream('test.boom', { description: 'one item, then InvalidArgumentError', result: z.number() }),
  stream('test.forever', { description: 'counts until the caller leaves', result: z.number() })
)
type Api = typeof api

async function setup (t: import('node:test').TestContext): Promise<{ dir: string, socket: string, registry: ReturnType<typeof createMethodRegistry>, server: ReturnType<typeof createControlServer> }> {
  const base = await mkdtemp(join(tmpdir(), 'dmsnet-ctl-'))
  const dir = join(base, 'data')
  const socket = join(dir, 'control.sock')
  const registry = createMethodRegistry()
  const server = createControlServer({ socket, registry })
  t.after(async () => {
    await server.stop()
    await rm(base, { recursive: true, force: true })
  })
  return { dir, socket, registry, server }
}

test('unary and streaming calls, typed errors, params validation', async (t) => {
  const { socket, registry, server } = await setup(t)
  registry.implement(api['test.add'], ({ a, b }) => ({ sum: a + b }))
  registry.implement(api['test.fail'], () => { throw new PeerNotFoundError('no such peer 12D3') })
  registry.implement(api['test.count'], async function * ({ n }) { for (let i = 0; i < n; i++) yield { i } })
  assert.throws(() => registry.implement(api['test.add'], () => ({ sum: 0 })), InvalidArgumentError, 'a name is registered once')
  await server.start()
  const client = createControlClient<Api>({ socket })

  const sum: { sum: number } = await client.call('test.add', { a: 2, b: 3 })
  assert.deepEqual(sum, { sum: 5 })
  await assert.rejects(client.call('test.fail'), (err: Error) => err instanceof PeerNotFoundError && err.message === 'no such peer 12D3')
  // the server validates too: a caller that skips the types gets the field named
  await assert.rejects(client.callUnchecked('test.add', { a: 'x', b: 1 }), (err: Error) => err.name === 'InvalidArgumentError' && err instanceof InvalidArgumentError && /a/.test(err.message))
  await assert.rejects(client.callUnchecked('nope.nothing'), MethodNotFoundError)

  const seen: unknown[] = []
  for await (const v of client.stream('test.count', { n: 5 })) seen.push(v)
  assert.deepEqual(seen, [0, 1, 2, 3, 4].map(i => ({ i })))
  await assert.rejects(client.callUnchecked('test.count', { n: 1 }), /streaming method/)

  // the server adds no methods of its own; the daemon registers control.methods
  await assert.rejects(client.callUnchecked('control.methods'), MethodNotFoundError)
  assert.deepEqual(registry.list().map(m => m.name), ['test.add', 'test.count', 'test.fail'])
})

test('a stream that fails midway delivers the typed error; leaving early aborts the handler', async (t) => {
  const { socket, registry, server } = await setup(t)
  registry.implement(api['test.boom'], async function * () { yield 1; throw new InvalidArgumentError('bad after one') })
  let aborted!: () => void
  const abortedP = new Promise<void>(resolve => { aborted = resolve })
  registry.implement(api['test.forever'], async function * (_p, { signal }) {
    signal.addEventListener('abort', () => { aborted() })
    for (let i = 0; !signal.aborted; i++) {
      yield i
      await pause(10) // not a wait: paces an endless producer
    }
  })
  await server.start()
  const client = createControlClient<Api>({ socket })
  const got: unknown[] = []
  await assert.rejects(async () => { for await (const v of client.stream('test.boom')) got.push(v) }, InvalidArgumentError)
  assert.deepEqual(got, [1])
  for await (const v of client.stream('test.forever')) if (v >= 3) break
  await abortedP // the server saw the client go away
})

test('socket 0600 in a 0700 dir; wrong or missing token refused; second daemon refused; stale socket replaced', async (t) => {
  const { dir, socket, registry, server } = await setup(t)
  registry.implement(api['test.ping'], () => 'pong' as const)
  await server.start()
  assert.equal((await stat(socket)).mode & 0o777, 0o600)
  assert.equal((await stat(dir)).mode & 0o777, 0o700)
  assert.equal((await stat(server.tokenFile)).mode & 0o777, 0o600)

  await assert.rejects(createControlClient<Api>({ socket, token: 'f'.repeat(64) }).call('test.ping'), UnauthorizedError)
  // raw request without the header
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ socketPath: socket, path: CALL_PATH, method: 'POST' }, res => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end(JSON.stringify({ method: 'test.ping' }))
  })
  assert.equal(status, 401)
  assert.equal(await createControlClient<Api>({ socket }).call('test.ping'), 'pong')
  assert.equal(TOKEN_HEADER, 'x-dmsnet-token')

  const second = createControlServer({ socket, registry })
  await assert.rejects(second.start(), AlreadyStartedError)

  await server.stop()
  await assert.rejects(createControlClient<Api>({ socket }).call('test.ping'), DaemonNotRunningError)
  // a stale socket file (daemon crashed) does not block the next start
  await writeFile(socket, '')
  const third = createControlServer({ socket, registry })
  await third.start()
  t.after(async () => { await third.stop() })
  assert.equal(await createControlClient<Api>({ socket }).call('test.ping'), 'pong')
})

test('malformed requests get a typed 400 and the server keeps serving', async (t) => {
  const { socket, registry, server } = await setup(t)
  registry.implement(api['test.ping'], () => 'pong' as const)
  await server.start()
  const token = (await import('node:fs/promises')).readFile(server.tokenFile, 'utf8').then(s => s.trim())
  const raw = async (path: string, body: string | Buffer): Promise<{ status: number, body: string }> => await new Promise((resolve, reject) => {
    void token.then(tok => {
      const req = request({ socketPath: socket, path, method: 'POST', headers: { [TOKEN_HEADER]: tok } }, res => {
        let text = ''
        res.on('data', (d: Buffer) => { text += d.toString() })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }) })
      })
      req.on('error', reject)
      req.end(body)
    })
  })
  const bad = await raw(CALL_PATH, '{not json')
  assert.equal(bad.status, 400)
  assert.equal((JSON.parse(bad.body) as { error: { name: string } }).error.name, 'ControlProtocolError')
  const noMethod = await raw(CALL_PATH, JSON.stringify({ params: {} }))
  assert.equal(noMethod.status, 400)
  const wrongPath = await raw('/elsewhere', JSON.stringify({ method: 'test.ping' }))
  assert.equal(wrongPath.status, 400)
  const huge = await raw(CALL_PATH, Buffer.alloc(2 * 1024 * 1024, 0x20)).catch((err: NodeJS.ErrnoException) => ({ status: -1, body: err.code ?? '' }))
  // refused either by a 413 answer or by the server closing the socket while we still write
  assert.ok(huge.status === 413 || (huge.status === -1 && ['EPIPE', 'ECONNRESET'].includes(huge.body)), `oversized body refused (${huge.status} ${huge.body})`)
  assert.equal(await createControlClient<Api>({ socket }).call('test.ping'), 'pong')
})

test('a socket path over the unix limit is a ConfigError naming control.socket', async () => {
  const socket = join(tmpdir(), 'x'.repeat(120), 'control.sock')
  const server = createControlServer({ socket, registry: createMethodRegistry() })
  await assert.rejects(server.start(), (err: Error & { issues?: Array<{ key: string }> }) => err.name === 'ConfigError' && err.issues?.[0]?.key === 'control.socket')
})

test('a client keeps working across a daemon restart (new token re-read once on 401)', async (t) => {
  const { socket, registry, server } = await setup(t)
  registry.implement(api['test.ping'], () => 'pong' as const)
  await server.start()
  const client = createControlClient<Api>({ socket })
  assert.equal(await client.call('test.ping'), 'pong')
  await server.stop()
  const again = createControlServer({ socket, registry })
  await again.start()
  t.after(async () => { await again.stop() })
  assert.equal(await client.call('test.ping'), 'pong')
})

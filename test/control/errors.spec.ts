/**
 * Errors across the control socket: a method that throws an error with fields (a real control
 * server on a unix socket, a real client) reaches the caller as the same class with the same
 * fields; a class the catalogue does not list arrives as a RemoteError keeping its name; a field
 * that does not match its declaration is left off. The list itself (catalogue/errors.ts) is
 * static: nothing registers a class by being imported.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { catalogue, createControlClient, createControlServer, createMethodRegistry, errorCatalogue, fromWireError, stream, toWireError, unary, RemoteError, type ControlClient } from '../../src/control/index.js'
import { ConfigError, DmsnetError } from '../../src/errors.js'
import { MessageRejectedError } from '../../src/messaging/errors.js'
import { CommandFailedError } from '../../src/netdev/errors.js'
import { InvalidSwarmKeyError, SwarmKeyLengthError } from '../../src/swarm/errors.js'

/** Not in the catalogue: the client cannot know it. */
class HomeMadeError extends DmsnetError {
  static override name = 'HomeMadeError'
  readonly detail = 'kept in the daemon'
}

const never = z.never()
const api = catalogue(
  unary('test.ok', { description: 'positive control', result: z.object({ ok: z.literal(true) }) }),
  unary('test.rejected', { description: 'MessageRejectedError with a reason', result: never, errors: [MessageRejectedError] }),
  unary('test.command', { description: 'CommandFailedError with its command line', result: never, errors: [CommandFailedError] }),
  unary('test.config', { description: 'ConfigError with issues', result: never, errors: [ConfigError] }),
  unary('test.key', { description: 'a subclass inheriting its parent\'s field', result: never, errors: [SwarmKeyLengthError] }),
  unary('test.unknown', { description: 'a class the catalogue does not list', result: never }),
  stream('test.late', { description: 'one item, then MessageRejectedError', result: z.number(), errors: [MessageRejectedError] })
)

async function serve (t: TestContext): Promise<ControlClient<typeof api>> {
  const base = await mkdtemp(join(tmpdir(), 'dmsnet-ctlerr-'))
  const socket = join(base, 'data', 'control.sock')
  const registry = createMethodRegistry()
  registry.implement(api['test.ok'], () => ({ ok: true as const }))
  registry.implement(api['test.rejected'], () => { throw new MessageRejectedError('the remote refused it', 'bad-signature') })
  registry.implement(api['test.command'], () => { throw new CommandFailedError('ip', ['link', 'add', 'x'], 2, 'RTNETLINK answers: File exists\n') })
  registry.implement(api['test.config'], () => { throw new ConfigError('invalid configuration', [{ key: 'vpn.cidr', value: 'nope', expected: 'an IPv4 CIDR' }]) })
  registry.implement(api['test.key'], () => { throw new SwarmKeyLengthError('the key is 31 bytes') })
  registry.implement(api['test.unknown'], () => { throw new HomeMadeError('made at home') })
  registry.implement(api['test.late'], async function * () { yield 1; throw new MessageRejectedError('refused midway', 'expired') })
  const server = createControlServer({ socket, registry })
  t.after(async () => { await server.stop(); await rm(base, { recursive: true, force: true }) })
  await server.start()
  return createControlClient<typeof api>({ socket })
}

test('an error thrown with fields reaches the client as the same class with the same fields', async (t) => {
  const client = await serve(t)
  assert.deepEqual(await client.call('test.ok'), { ok: true })

  await assert.rejects(client.call('test.rejected'), (err: unknown) => {
    assert.ok(err instanceof MessageRejectedError, 'same class')
    assert.equal(err.name, 'MessageRejectedError')
    assert.equal(err.message, 'the remote refused it')
    assert.equal(err.reason, 'bad-signature')
    return true
  })
  await assert.rejects(client.call('test.command'), (err: unknown) => {
    assert.ok(err instanceof CommandFailedError)
    assert.deepEqual([err.command, err.args, err.exitCode, err.stderr], ['ip', ['link', 'add', 'x'], 2, 'RTNETLINK answers: File exists\n'])
    return true
  })
  await assert.rejects(client.call('test.config'), (err: unknown) => {
    assert.ok(err instanceof ConfigError)
    assert.deepEqual(err.issues, [{ key: 'vpn.cidr', value: 'nope', expected: 'an IPv4 CIDR' }])
    return true
  })
  await assert.rejects(client.call('test.key'), (err: unknown) => {
    assert.ok(err instanceof SwarmKeyLengthError && err instanceof InvalidSwarmKeyError)
    assert.equal(err.reason, 'length')
    return true
  })
  // a stream that fails after its first item: same class, same field
  const items: number[] = []
  await assert.rejects(async () => { for await (const i of client.stream('test.late')) items.push(i) }, (err: unknown) => {
    assert.ok(err instanceof MessageRejectedError)
    assert.equal(err.reason, 'expired')
    return true
  })
  assert.deepEqual(items, [1])
})

test('a class the catalogue does not list arrives as a RemoteError with its name, and without its fields', async (t) => {
  const client = await serve(t)
  await assert.rejects(client.call('test.unknown'), (err: unknown) => {
    assert.ok(err instanceof RemoteError)
    assert.equal(err.remoteName, 'HomeMadeError')
    assert.equal(err.message, 'made at home')
    assert.equal((err as unknown as { detail?: string }).detail, undefined)
    return true
  })
})

test('wire form: only declared fields are sent; a malformed field is left off; every listed name maps back to its class', () => {
  const wire = toWireError(new CommandFailedError('nft', ['-f', '-'], 1, 'syntax error'))
  assert.deepEqual(wire, { name: 'CommandFailedError', message: 'nft -f - failed (exit 1): syntax error', fields: { command: 'nft', args: ['-f', '-'], exitCode: 1, stderr: 'syntax error' } })
  assert.deepEqual(toWireError(new HomeMadeError('x')), { name: 'HomeMadeError', message: 'x' })

  const bad = fromWireError({ name: 'CommandFailedError', message: 'm', fields: { command: 'ip', exitCode: 'two', args: 'not a list' } })
  assert.ok(bad instanceof CommandFailedError)
  assert.equal(bad.command, 'ip')
  assert.equal(bad.exitCode, undefined)
  assert.equal(bad.args, undefined)

  for (const [name, entry] of errorCatalogue) {
    const err = fromWireError({ name, message: 'm' })
    assert.ok(err instanceof entry.cls, name)
    assert.equal(err.name, name)
    assert.equal(entry.cls.name, name, `${name}: the class's static name is the key`)
  }
})

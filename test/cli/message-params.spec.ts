// The parameters `dmsnet send` and `dmsnet request` send to the daemon (pure logic, no daemon).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { directMessageParams } from '../../src/cli/commands/send/params.js'
import { EXIT_USAGE } from '../../src/cli/errors.js'

test('direct message params: payload defaults to empty, --base64 picks the encoding, --timeout is passed as a number', () => {
  assert.deepEqual(directMessageParams(['peer', 'dmsnet.echo'], {}), { peer: 'peer', type: 'dmsnet.echo', payload: '', encoding: 'utf8' })
  assert.deepEqual(directMessageParams(['peer', 't', 'aGk='], { base64: true, timeout: '2500' }), { peer: 'peer', type: 't', payload: 'aGk=', encoding: 'base64', timeoutMs: 2500 })
})

test('direct message params: a nonsense --timeout is a usage error', () => {
  for (const bad of ['0', '-5', '1.5', 'soon', '600001']) {
    assert.throws(() => directMessageParams(['peer', 't'], { timeout: bad }), (e: Error & { exitCode?: number }) => e.name === 'CliError' && e.exitCode === EXIT_USAGE, bad)
  }
})

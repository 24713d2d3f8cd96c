/**
 * The logger factory: JSON lines on stderr (never stdout), level from DMSNET_LOG_LEVEL or the
 * config. Runs a child process so the real stderr is captured.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

const logging = fileURLToPath(new URL('../../src/logging.ts', import.meta.url)).replace(/\.ts$/, '.js')

function run (code: string, env: Record<string, string> = {}): { stdout: string, lines: Array<Record<string, unknown>> } {
  const script = `import { createLogger, setLogLevel } from ${JSON.stringify(logging)}\n${code}\nawait new Promise(r => setTimeout(r, 50))`
  const r = spawnSync(process.execPath, [...process.execArgv.filter(a => !a.startsWith('--test')), '--input-type=module', '-e', script], {
    env: { ...process.env, DMSNET_LOG_LEVEL: '', ...env },
    encoding: 'utf8',
    timeout: 20_000
  })
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stderr.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
  return { stdout: r.stdout, lines }
}

describe('logging', () => {
  it('writes JSON with the component to stderr at info by default', () => {
    const { stdout, lines } = run("const l = createLogger('network'); l.info({ peer: 'x' }, 'hello'); l.debug('hidden')")
    assert.equal(stdout, '')
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!.component, 'network')
    assert.equal(lines[0]!.msg, 'hello')
    assert.equal(lines[0]!.peer, 'x')
  })

  it('takes the level from DMSNET_LOG_LEVEL, and setLogLevel changes it', () => {
    assert.equal(run("createLogger('a').debug('d')", { DMSNET_LOG_LEVEL: 'debug' }).lines.length, 1)
    assert.equal(run("createLogger('a').info('i')", { DMSNET_LOG_LEVEL: 'warn' }).lines.length, 0)
    assert.equal(run("setLogLevel('error'); createLogger('a').warn('w'); createLogger('b').error('e')").lines.length, 1)
    assert.equal(run("createLogger('a', 'silent').error('e')").lines.length, 0)
  })
})

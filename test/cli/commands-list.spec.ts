/**
 * The CLI's commands are an explicit list (src/cli/commands/index.ts), not a directory scan: this
 * checks the list against the folders, so a command folder whose line was forgotten (or a line
 * left after its folder went) fails here rather than silently missing from `dmsnet --help`.
 */
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { commands, commandsFor, commandWord } from '../../src/cli/commands/index.js'
import { repoRoot } from './helpers.js'

test('every command folder is in the explicit list, once, and the list holds nothing else', async () => {
  const compiled = import.meta.url.endsWith('.js')
  // folders from the source tree (a stale dist/ may hold removed ones), modules as this suite runs them
  const srcDir = join(repoRoot, 'src', 'cli', 'commands')
  const dir = compiled ? join(repoRoot, 'dist', 'src', 'cli', 'commands') : srcDir
  const folders = readdirSync(srcDir, { withFileTypes: true }).filter(d => d.isDirectory()).map(d => d.name).sort()
  assert.ok(folders.length >= 10, `found the command folders in ${srcDir}`)
  const missing: string[] = []
  for (const name of folders) {
    const mod = await import(pathToFileURL(join(dir, name, compiled ? 'index.js' : 'index.ts')).href) as { register?: unknown }
    assert.equal(typeof mod.register, 'function', `${name}/index exports register`)
    const entry = commands.find(c => c.name === name)
    if (entry == null) {
      missing.push(name)
      continue
    }
    // the entry loads that folder's module (same module instance, same register)
    assert.equal((await entry.load()).register, mod.register, `entry ${name} loads ${name}/index`)
  }
  assert.deepEqual(missing, [], `add these to src/cli/commands/index.ts: ${missing.join(', ')}`)
  assert.equal(new Set(commands.map(c => c.name)).size, commands.length, 'no command listed twice')
  assert.equal(commands.length, folders.length, 'one entry per folder')
})

test('only the command being run is loaded; help, unknown words and completion load all', () => {
  const argv = (...a: string[]): string[] => ['node', 'dmsnet', ...a]
  assert.equal(commandWord(argv('-d', '/tmp/x', '--config', 'c.yaml', 'up', '--listen', '/ip4/1.2.3.4/tcp/1')), 'up')
  assert.equal(commandWord(argv('--data-dir=/tmp/x', 'vpn', 'status')), 'vpn')
  assert.equal(commandWord(argv('--version')), undefined)
  assert.deepEqual(commandsFor(argv('-d', 'up', 'up')).map(c => c.name), ['up'], 'the value of -d is not the command')
  assert.deepEqual(commandsFor(argv('vpn', 'status')).map(c => c.name), ['vpn'])
  assert.equal(commandsFor(argv('help', 'up')).length, commands.length)
  assert.equal(commandsFor(argv('upp')).length, commands.length, 'unknown: all, so commander can suggest')
  assert.equal(commandsFor(argv()).length, commands.length)
  assert.equal(commandsFor(argv('completion', 'bash')).length, commands.length, 'completion walks the whole tree')
})

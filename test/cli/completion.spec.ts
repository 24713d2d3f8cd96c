/**
 * `dmsnet completion bash|zsh` and `--json` everywhere: every command of the real program takes
 * --json; the generated scripts parse, register themselves, and complete subcommands, options,
 * argument choices, files after path options and (as root) network namespaces, run in real bash
 * and zsh.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import { buildProgram } from '../../src/cli/main.js'
import { netnsFixture } from '../helpers/netns.js'
import { isRoot } from '../helpers/root.js'
import { runCli } from './helpers.js'

async function sh (shell: string, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(shell, args, { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1, stdout, stderr })
    })
  })
}

function leaves (cmd: Command, path: string[] = []): Array<{ path: string, cmd: Command }> {
  const subs = cmd.commands.filter(c => c.name() !== 'help')
  if (subs.length === 0) return [{ path: path.join(' '), cmd }]
  return subs.flatMap(c => leaves(c, [...path, c.name()]))
}

test('every command takes --json', async () => {
  const all = leaves(await buildProgram())
  assert.ok(all.length >= 35, `only ${all.length} commands found`)
  const missing = all.filter(l => !l.cmd.options.some(o => o.long === '--json')).map(l => l.path)
  assert.deepEqual(missing, [])
})

test('bash and zsh completion scripts complete the real command tree', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-completion-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const bash = await runCli(['completion', 'bash'])
  assert.equal(bash.code, 0, bash.stderr)
  const zsh = await runCli(['completion', 'zsh'])
  assert.equal(zsh.code, 0, zsh.stderr)
  const asJson = JSON.parse((await runCli(['completion', 'zsh', '--json'])).stdout) as { shell: string, script: string }
  assert.equal(asJson.script, zsh.stdout)
  const bad = await runCli(['completion', 'fish'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /Allowed choices are bash, zsh/)
  await writeFile(join(dir, 'c.bash'), bash.stdout)
  await writeFile(join(dir, 'c.zsh'), zsh.stdout)
  await writeFile(join(dir, 'some-config.yaml'), '')

  // bash: set up the words as bash would, call the function, print the candidates
  const complete = async (...words: string[]): Promise<string[]> => {
    const script = `source ${JSON.stringify(join(dir, 'c.bash'))}
complete -p dmsnet >/dev/null || exit 9
COMP_WORDS=(${words.map(w => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}
_dmsnet_completion; printf '%s\\n' "\${COMPREPLY[@]}"`
    const r = await sh('bash', ['-c', script])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout.split('\n').filter(x => x !== '')
  }
  assert.deepEqual(await complete('dmsnet', 'vp'), ['vpn'])
  assert.deepEqual((await complete('dmsnet', 'vpn', 'ma')), ['map-port'])
  assert.ok((await complete('dmsnet', 'vpn', '')).includes('unmap-port'))
  assert.deepEqual(await complete('dmsnet', '--data-dir', '/tmp', 'vpn', 'attach', '--j'), ['--json'])
  assert.deepEqual(await complete('dmsnet', 'swarm', 'k'), ['keygen'])
  assert.deepEqual(await complete('dmsnet', 'completion', 'z'), ['zsh'])
  assert.deepEqual(await complete('dmsnet', '--config', join(dir, 'some-c')), [join(dir, 'some-config.yaml')])
  // an unknown word does not derail the path: the root's words still complete
  assert.ok((await complete('dmsnet', 'nonsense', 'st')).includes('status'))
  if (isRoot) {
    const net = netnsFixture(t, 'dq')
    const ns = await net.namespace('comp')
    assert.deepEqual(await complete('dmsnet', 'vpn', 'attach', ns.slice(0, -2)), [ns])
  }

  // zsh: the script parses, registers with compinit, and offers the same words (with
  // descriptions) to _describe, which zsh then filters by prefix
  assert.equal((await sh('zsh', ['-n', join(dir, 'c.zsh')])).code, 0)
  const zshOffers = async (...words: string[]): Promise<string[]> => {
    const script = `autoload -U compinit; compinit -u -d ${JSON.stringify(join(dir, 'zcompdump'))}
source ${JSON.stringify(join(dir, 'c.zsh'))}
[[ \${_comps[dmsnet]} == _dmsnet ]] || exit 9
_describe() { print -rl -- "\${(@P)4}" }
_files() { print -r -- FILES }
words=(${words.map(w => JSON.stringify(w)).join(' ')}); CURRENT=${words.length}
_dmsnet`
    const r = await sh('zsh', ['-f', '-c', script])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout.split('\n').filter(x => x !== '')
  }
  const vpnWords = await zshOffers('dmsnet', 'vpn', '')
  assert.ok(vpnWords.some(w => w.startsWith('map-port:expose a port')), vpnWords.join('\n'))
  assert.ok(vpnWords.includes('--data-dir:data dir with config.yaml, identity key and control socket (default ~/.dmsnet, env DMSNET_DATA_DIR)'))
  assert.ok((await zshOffers('dmsnet', 'swarm', 'keygen', '')).some(w => w.startsWith('--force:')))
  assert.deepEqual(await zshOffers('dmsnet', 'swarm', 'keygen', '--out', ''), ['FILES'])
})

/**
 * Runs the demo (`npm start`'s entry) as a subprocess with plain output, and waits for lines in it.
 */
import { execFileSync, spawn, type SpawnOptions } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { CLUSTER_DIR_PREFIX } from '../../src/demo/cluster.js'
import { entryArgs } from '../cli/helpers.js'
import { isRoot } from '../helpers/root.js'
import { waitFor as waitUntil } from '../helpers/wait.js'

export interface DemoRun {
  child: ReturnType<typeof spawn>
  out: () => string
  err: () => string
  exited: Promise<number | null>
  waitFor: (re: RegExp, ms: number) => Promise<RegExpMatchArray>
}

export function runDemo (args: string[], options: Pick<SpawnOptions, 'uid' | 'gid'> & { env?: Record<string, string> } = {}): DemoRun {
  const { env, ...spawnOptions } = options
  const child = spawn(process.execPath, [...entryArgs('src/demo/main.ts'), '--no-mdns', ...args], {
    // the duration is a safety net: the test stops the demo itself long before
    env: { ...process.env, DMSNET_DEMO_DURATION: '120', DMSNET_LOG_LEVEL: 'warn', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...spawnOptions
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<number | null>(resolve => child.on('close', c => { resolve(c) }))
  const waitFor = async (re: RegExp, ms: number): Promise<RegExpMatchArray> => {
    try {
      await waitUntil(() => re.test(out) || child.exitCode != null, ms, String(re))
    } catch { /* reported below with the output */ }
    const m = out.match(re)
    if (m == null) throw new Error(`no ${re} in demo output:\n${out}\nstderr:\n${err}`)
    return m
  }
  return { child, out: () => out, err: () => err, exited, waitFor }
}

export function namespacesOf (pid: number): string[] {
  if (!isRoot) return []
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n')
    .map(l => l.split(' ')[0]!).filter(n => n.startsWith(`dmsdemo-${pid}-`))
}

/** pids of processes whose command line mentions this demo's tag (its daemons' data dirs). */
export function daemonsOf (pid: number): number[] {
  const out: number[] = []
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`dmsdemo-${pid}-`)) out.push(Number(p))
    } catch { /* gone meanwhile */ }
  }
  return out
}

/**
 * Safety net for a test that fails half-way (the demo is SIGKILLed): whatever its VPN step left
 * behind goes too (daemons, namespaces, data dirs), and its cluster's data dirs.
 */
export function leftoversCleanup (t: TestContext, demo: DemoRun): void {
  t.after(() => {
    const pid = demo.child.pid!
    if (demo.child.exitCode == null) demo.child.kill('SIGKILL')
    for (const p of daemonsOf(pid)) { try { process.kill(p, 'SIGKILL') } catch { /* gone */ } }
    for (const ns of namespacesOf(pid)) { try { execFileSync('ip', ['netns', 'del', ns]) } catch { /* gone */ } }
    for (const d of readdirSync(tmpdir())) {
      if (d.startsWith(`dmsdemo-${pid}-`) || d.startsWith(`${CLUSTER_DIR_PREFIX}${pid}-`)) rmSync(join(tmpdir(), d), { recursive: true, force: true })
    }
  })
}

/**
 * Runs the demo (`npm start`'s entry) as a subprocess with plain output, and waits for lines in it.
 */
import { spawn, type SpawnOptions } from 'node:child_process'
import { entryArgs } from '../cli/helpers.js'

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
    const until = Date.now() + ms
    for (;;) {
      const m = out.match(re)
      if (m != null) return m
      if (Date.now() > until || child.exitCode != null) throw new Error(`no ${re} in demo output:\n${out}\nstderr:\n${err}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  return { child, out: () => out, err: () => err, exited, waitFor }
}

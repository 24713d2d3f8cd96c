/**
 * Control API cost: a unary call through the registry + token check + JSON (vs a bare HTTP
 * request on the same kind of unix socket, measured in the same run), streaming throughput
 * (NDJSON items/s), and a whole CLI invocation (`dmsnet call`, process start included).
 *
 *   npm run bench -- control         (dev: node --import tsx bench/control.ts)
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { createServer, request } from 'node:http'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { catalogue, controlApi, createControlClient, createControlServer, createMethodRegistry, stream, unary } from '../src/control/index.js'

const CALLS = 500
const RUNS = 3
const STREAM_ITEMS = 20_000
const CLI_RUNS = 5

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
const stats = (xs: number[]): { min: number, median: number, max: number } => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs) })
const round = (x: number, d = 3): number => Number(x.toFixed(d))

const benchApi = catalogue(
  unary('bench.echo', { description: 'returns its params', params: z.object({ i: z.number() }), result: z.object({ i: z.number() }) }),
  stream('bench.items', { description: 'n small items', params: z.object({ n: z.number().int() }), result: z.object({ i: z.number() }) })
)

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dmsnet-bench-ctl-'))
  try {
    const socket = join(dir, 'control.sock')
    const registry = createMethodRegistry()
    registry.implement(benchApi['bench.echo'], (p) => p)
    registry.implement(benchApi['bench.items'], async function * ({ n }) { for (let i = 0; i < n; i++) yield { i } })
    // what the timed `dmsnet call` asks for
    registry.implement(controlApi['control.methods'], () => registry.list())
    const server = createControlServer({ socket, registry })
    await server.start()
    const client = createControlClient<typeof benchApi>({ socket })

    // baseline: bare HTTP on a unix socket, fixed small JSON reply, same request shape
    const rawSock = join(dir, 'raw.sock')
    const raw = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":{}}') }) })
    raw.listen(rawSock)
    await once(raw, 'listening')
    const rawCall = async (): Promise<void> => { await new Promise<void>((resolve, reject) => {
      const r = request({ socketPath: rawSock, path: '/v1/call', method: 'POST' }, res => { res.resume(); res.on('end', resolve) })
      r.on('error', reject)
      r.end('{"method":"bench.echo","params":{}}')
    }) }

    const unary: number[] = []
    const baseline: number[] = []
    const perRun: number[] = []
    for (let run = 0; run < RUNS; run++) {
      for (let i = 0; i < 20; i++) { await client.call('bench.echo', { i }); await rawCall() } // warm up
      const t0 = performance.now()
      for (let i = 0; i < CALLS; i++) {
        const a = performance.now()
        await client.call('bench.echo', { i })
        unary.push(performance.now() - a)
      }
      perRun.push((performance.now() - t0) / CALLS)
      for (let i = 0; i < CALLS; i++) {
        const a = performance.now()
        await rawCall()
        baseline.push(performance.now() - a)
      }
      process.stderr.write(`run ${run + 1}/${RUNS}: control call median ${median(unary.slice(-CALLS)).toFixed(3)} ms, bare http ${median(baseline.slice(-CALLS)).toFixed(3)} ms\n`)
    }

    const streamRates: number[] = []
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now()
      let n = 0
      for await (const _ of client.stream('bench.items', { n: STREAM_ITEMS })) n++
      if (n !== STREAM_ITEMS) throw new Error(`stream delivered ${n}/${STREAM_ITEMS}`)
      streamRates.push(n / ((performance.now() - t0) / 1000))
      process.stderr.write(`stream run ${run + 1}/${RUNS}: ${Math.round(streamRates.at(-1)!)} items/s\n`)
    }

    // the CLI as a user runs it: new process, config resolution, one call, exit
    const here = dirname(fileURLToPath(import.meta.url))
    const compiled = import.meta.url.endsWith('.js')
    const root = resolve(here, compiled ? '../..' : '..')
    const entry = compiled ? [join(root, 'dist/src/cli/main.js')] : ['--import', 'tsx', join(root, 'src/cli/main.ts')]
    const cli: number[] = []
    if (!compiled || existsSync(entry[0]!)) {
      for (let i = 0; i < CLI_RUNS; i++) {
        const a = performance.now()
        // async spawn: the server answering the CLI lives in this very process
        const child = spawn(process.execPath, [...entry, 'call', 'control.methods', '--data-dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] })
        let err = ''
        child.stderr.on('data', (d: Buffer) => { err += d.toString() })
        const timer = setTimeout(() => { child.kill('SIGKILL') }, 30_000)
        const [code] = await once(child, 'close') as [number | null]
        clearTimeout(timer)
        cli.push(performance.now() - a)
        if (code !== 0) throw new Error(`cli failed (${code}): ${err}`)
      }
      process.stderr.write(`cli call (${compiled ? 'compiled' : 'tsx'}): median ${Math.round(median(cli))} ms\n`)
    }

    await server.stop()
    raw.close()
    const u = stats(unary)
    const b = stats(baseline)
    const s = stats(streamRates)
    const c = cli.length > 0 ? stats(cli) : undefined
    console.log(JSON.stringify({
      bench: 'control',
      calls: CALLS * RUNS,
      unary_call_ms: { min: round(u.min), median: round(u.median), max: round(u.max) },
      baseline_bare_http_ms: { min: round(b.min), median: round(b.median), max: round(b.max) },
      overhead_ratio: round(u.median / b.median, 2),
      stream_items_per_s: { min: Math.round(s.min), median: Math.round(s.median), max: Math.round(s.max) },
      cli_call_ms: c != null ? { min: Math.round(c.min), median: Math.round(c.median), max: Math.round(c.max), entry: compiled ? 'dist' : 'tsx' } : null
    }))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch(err => { process.stderr.write(String((err as Error).stack ?? err) + '\n'); process.exit(1) })

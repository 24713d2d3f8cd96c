/**
 * `dmsnet job publish|serve`: broadcast a bid request and watch bids arrive; or bid on requests.
 */
import type { Command } from 'commander'
import type { ActionArgs, CliContext } from '../../context.js'
import { CliError, EXIT_USAGE } from '../../errors.js'
import { shortId } from '../../format.js'

function num (name: string, v: string | undefined, min: number, max: number, int = false): number | undefined {
  if (v == null) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) throw new CliError(`--${name}: got "${v}", expected ${int ? 'an integer' : 'a number'} ${min}-${max}`, EXIT_USAGE)
  return n
}

async function withSigint (fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController()
  const stop = (): void => { ac.abort() }
  process.once('SIGINT', stop)
  try {
    await fn(ac.signal)
  } catch (err) {
    if (!ac.signal.aborted) throw err
  } finally {
    process.off('SIGINT', stop)
  }
}

interface PublishOpts { json?: boolean, kind: string, cpu?: string, memory?: string, gpus?: string, maxPrice?: string, deadline: string, maxBids?: string }

async function jobPublish ({ client, opts }: ActionArgs<PublishOpts>): Promise<void> {
  const resources: Record<string, number> = {}
  const cpu = num('cpu', opts.cpu, 0, 1e6)
  const memory = num('memory', opts.memory, 0, 1e9)
  const gpus = num('gpus', opts.gpus, 0, 1e4, true)
  if (cpu != null) resources.cpuCores = cpu
  if (memory != null) resources.memoryMiB = memory
  if (gpus != null) resources.gpus = gpus
  const maxPrice = num('max-price', opts.maxPrice, 0, Number.MAX_SAFE_INTEGER)
  const deadlineMs = num('deadline', opts.deadline, 1, 600_000, true)!
  const maxBids = num('max-bids', opts.maxBids, 1, 100_000, true)
  const tty = process.stderr.isTTY && opts.json !== true
  await withSigint(async (signal) => {
    const params = { kind: opts.kind, resources, deadlineMs, ...(maxPrice != null ? { maxPrice } : {}), ...(maxBids != null ? { maxBids } : {}) }
    for await (const line of client.stream('messaging.job.publish', params, { signal })) {
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(line) + '\n')
        continue
      }
      if (line.event === 'bid') {
        if (tty) process.stderr.write('\r\x1b[K')
        process.stdout.write(`bid ${line.n}: ${shortId(line.bid.bidder)} price=${line.bid.price} (+${line.elapsedMs} ms)\n`)
        if (tty) process.stderr.write(`collecting bids for ${line.requestId}: ${line.n} so far, ${Math.max(0, Math.ceil((deadlineMs - line.elapsedMs) / 1000))} s left`)
      } else {
        if (tty) process.stderr.write('\r\x1b[K')
        process.stdout.write(`request ${line.requestId}: ${line.bids} bid(s) in ${line.elapsedMs} ms\n`)
      }
    }
  })
}

function serveLine (line: { event: string, requestId: string, orchestrator: string, price?: number, attempts?: number, ms?: number, error?: string }): string {
  if (line.event === 'bid') return `bid on ${line.requestId} from ${shortId(line.orchestrator)} at ${line.price ?? '?'}`
  const tries = line.attempts === 1 ? '' : ` (${line.attempts ?? '?'} tries)`
  if (line.event === 'sent') return `  delivered to ${shortId(line.orchestrator)} after ${Math.round(line.ms ?? 0)} ms${tries}`
  return `  NOT delivered to ${shortId(line.orchestrator)}${tries}: ${line.error ?? 'unknown error'}`
}

interface ServeOpts { json?: boolean, price: string, maxCpu?: string }

async function jobServe ({ client, opts }: ActionArgs<ServeOpts>): Promise<void> {
  const price = num('price', opts.price, 0, Number.MAX_SAFE_INTEGER)!
  const maxCpuCores = num('max-cpu', opts.maxCpu, 0, 1e6)
  await withSigint(async (signal) => {
    for await (const line of client.stream('messaging.job.serve', { price, ...(maxCpuCores != null ? { maxCpuCores } : {}) }, { signal })) {
      process.stdout.write((opts.json === true ? JSON.stringify(line) : serveLine(line)) + '\n')
    }
  })
}

export function register (program: Command, ctx: CliContext): void {
  const job = program.command('job').description('job bidding over the jobs gossip topic')
  job.command('publish')
    .description('broadcast a bid request and print bids as they arrive')
    .option('-k, --kind <kind>', 'job kind', 'generic')
    .option('--cpu <cores>', 'CPU cores wanted')
    .option('--memory <MiB>', 'memory wanted, MiB')
    .option('--gpus <n>', 'GPUs wanted')
    .option('--max-price <p>', 'highest acceptable price')
    .option('-d, --deadline <ms>', 'how long to collect bids', '5000')
    .option('-n, --max-bids <n>', 'stop after this many bids')
    .option('--json', 'one JSON object per line')
    .action(ctx.action(jobPublish))
  job.command('serve')
    .description('bid on incoming bid requests at a fixed price until Ctrl-C')
    .requiredOption('-p, --price <p>', 'price to bid')
    .option('--max-cpu <cores>', 'do not bid on requests wanting more cores')
    .option('--json', 'one JSON object per line')
    .action(ctx.action(jobServe))
}

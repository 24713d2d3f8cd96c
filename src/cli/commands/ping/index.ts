/**
 * `dmsnet ping <peer>`: libp2p ping round trips through the running node.
 */
import type { Command } from 'commander'
import type { CliContext, ActionArgs } from '../../context.js'
import { ms } from '../../format.js'
import { CliError, EXIT_USAGE } from '../../errors.js'

async function ping ({ client, arg, opts, out }: ActionArgs<{ json?: boolean, count: string, interval: string }>): Promise<void> {
  const count = Number(opts.count)
  const intervalMs = Number(opts.interval)
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new CliError(`--count: got "${opts.count}", expected an integer 1-100`, EXIT_USAGE)
  if (!Number.isInteger(intervalMs) || intervalMs < 0 || intervalMs > 10_000) throw new CliError(`--interval: got "${opts.interval}", expected milliseconds 0-10000`, EXIT_USAGE)
  const r = await client.call('node.ping', { peer: arg(0), count, intervalMs })
  out(r, opts.json === true, v => {
    const sorted = [...v.rtts].sort((a, b) => a - b)
    const lines = v.rtts.map((t, i) => `pong from ${v.peerId}: seq=${i + 1} time=${ms(t)}`)
    if (v.rtts.length > 1) lines.push(`min/median/max = ${ms(sorted[0])} / ${ms(sorted[Math.floor(sorted.length / 2)])} / ${ms(sorted[sorted.length - 1])}`)
    return lines.join('\n')
  })
}

export function register (program: Command, ctx: CliContext): void {
  program.command('ping')
    .description('measure round-trip time to a peer (peer id or multiaddr)')
    .argument('<peer>', 'peer id, or multiaddr ending in /p2p/<id>')
    .option('-c, --count <n>', 'number of pings', '3')
    .option('-i, --interval <ms>', 'pause between pings', '200')
    .option('--json', 'print JSON')
    .action(ctx.action(ping))
}

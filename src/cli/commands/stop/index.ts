/**
 * `dmsnet stop`: ask the running daemon to shut down gracefully.
 */
import type { Command } from 'commander'
import type { CliContext, ActionArgs } from '../../context.js'

async function stop ({ client, opts, out }: ActionArgs<{ json?: boolean }>): Promise<void> {
  await client.call('node.shutdown')
  out({ stopping: true }, opts.json === true, () => 'dmsnet: daemon is stopping')
}

export function register (program: Command, ctx: CliContext): void {
  program.command('stop')
    .description('stop the running daemon gracefully')
    .option('--json', 'print JSON')
    .action(ctx.action(stop))
}

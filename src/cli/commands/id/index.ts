/**
 * `dmsnet id`: the running node's peer id and addresses (with --json, for scripts).
 */
import type { Command } from 'commander'
import type { CliContext, ActionArgs } from '../../context.js'

async function id ({ client, opts, out }: ActionArgs<{ json?: boolean }>): Promise<void> {
  out(await client.call('node.id'), opts.json === true, r =>
    [r.peerId, ...r.addresses.map(a => `  ${a.includes('/p2p/') ? a : `${a}/p2p/${r.peerId}`}`)].join('\n'))
}

export function register (program: Command, ctx: CliContext): void {
  program.command('id')
    .description('print the peer id and dialable addresses of the running node')
    .option('--json', 'print JSON')
    .action(ctx.action(id))
}

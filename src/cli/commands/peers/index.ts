/**
 * `dmsnet peers`: open connections of the running node.
 */
import type { Command } from 'commander'
import type { CliContext, ActionArgs } from '../../context.js'
import { formatPeers } from '../status/handler.js'

async function peers ({ client, opts, out }: ActionArgs<{ json?: boolean }>): Promise<void> {
  out(await client.call('node.peers'), opts.json === true, formatPeers)
}

export function register (program: Command, ctx: CliContext): void {
  program.command('peers')
    .description('list open connections (peer, direction, transport, address, latency)')
    .option('--json', 'print JSON')
    .action(ctx.action(peers))
}

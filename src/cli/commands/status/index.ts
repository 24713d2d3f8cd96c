/**
 * `dmsnet status`: the running node's identity, addresses, reachability and connections.
 */
import type { Command } from 'commander'
import type { CliContext } from '../../context.js'
import { status } from './handler.js'

export function register (program: Command, ctx: CliContext): void {
  program.command('status')
    .description('show the running node: identity, addresses, reachability, connections')
    .option('--json', 'print JSON')
    .action(ctx.action(status))
}

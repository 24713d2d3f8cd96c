/**
 * `dmsnet send <peer> <type> [payload]`: a signed direct message, waits for the acknowledgement.
 */
import type { Command } from 'commander'
import type { ActionArgs, CliContext } from '../../context.js'
import { ms, shortId } from '../../format.js'
import { directMessageParams } from './params.js'

interface Opts { json?: boolean, base64?: boolean, timeout?: string }

async function send ({ client, args, opts, out }: ActionArgs<Opts>): Promise<void> {
  const r = await client.call('messaging.send', directMessageParams(args, opts))
  out(r, opts.json === true, v => `acknowledged by ${shortId(v.peer)} (${v.type}) in ${ms(v.ms)}`)
}

export function register (program: Command, ctx: CliContext): void {
  program.command('send')
    .description('send a signed direct message to a peer and wait for its acknowledgement')
    .argument('<peer>', 'peer id')
    .argument('<type>', 'message type (the remote must handle it; every daemon handles dmsnet.echo)')
    .argument('[payload]', 'payload text (or base64 with --base64)')
    .option('--base64', 'payload is base64')
    .option('--timeout <ms>', 'acknowledgement timeout')
    .option('--json', 'print JSON')
    .action(ctx.action(send))
}

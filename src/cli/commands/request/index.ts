/**
 * `dmsnet request <peer> <type> [payload]`: request/response; prints the remote handler's answer.
 */
import type { Command } from 'commander'
import type { ActionArgs, CliContext } from '../../context.js'
import { directMessageParams } from '../send/params.js'

interface Opts { json?: boolean, base64?: boolean, timeout?: string }

async function request ({ client, args, opts, out }: ActionArgs<Opts>): Promise<void> {
  const r = await client.call('messaging.request', directMessageParams(args, opts))
  out(r, opts.json === true, v => v.response)
}

export function register (program: Command, ctx: CliContext): void {
  program.command('request')
    .description('send a request to a peer and print its response (try type dmsnet.echo)')
    .argument('<peer>', 'peer id')
    .argument('<type>', 'message type')
    .argument('[payload]', 'payload text (or base64 with --base64)')
    .option('--base64', 'payload and response are base64')
    .option('--timeout <ms>', 'response timeout')
    .option('--json', 'print JSON (includes round-trip ms)')
    .action(ctx.action(request))
}

/**
 * `dmsnet publish <topic> [payload]`: a signed message on a gossip topic.
 */
import type { Command } from 'commander'
import type { ActionArgs, CliContext } from '../../context.js'

interface Opts { json?: boolean, base64?: boolean, type: string }

async function publish ({ client, args, opts, out }: ActionArgs<Opts>): Promise<void> {
  const [topic, payload = ''] = args as [string, string?]
  const r = await client.call('messaging.publish', {
    topic, type: opts.type, payload, encoding: opts.base64 === true ? 'base64' : 'utf8'
  })
  out(r, opts.json === true, v => `published on ${topic} to ${v.recipients} peer(s)`)
}

export function register (program: Command, ctx: CliContext): void {
  program.command('publish')
    .description('publish a signed message on a gossip topic')
    .argument('<topic>', 'topic, e.g. /my/topic')
    .argument('[payload]', 'payload text (or base64 with --base64)')
    .option('-t, --type <type>', 'message type inside the envelope', 'message')
    .option('--base64', 'payload is base64')
    .option('--json', 'print JSON')
    .action(ctx.action(publish))
}

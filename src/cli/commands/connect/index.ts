/**
 * `dmsnet connect <multiaddr|peerId>` and `dmsnet disconnect <peerId>`.
 */
import type { Command } from 'commander'
import type { CliContext, ActionArgs } from '../../context.js'

async function connect ({ client, arg, opts, out }: ActionArgs<{ json?: boolean }>): Promise<void> {
  const r = await client.call('node.connect', { target: arg(0) })
  out(r, opts.json === true, v => `connected to ${v.peerId} via ${v.remoteAddr}`)
}

async function disconnect ({ client, arg, opts, out }: ActionArgs<{ json?: boolean }>): Promise<void> {
  await client.call('node.disconnect', { peer: arg(0) })
  out({ peerId: arg(0), disconnected: true }, opts.json === true, v => `disconnected from ${v.peerId}`)
}

export function register (program: Command, ctx: CliContext): void {
  program.command('connect')
    .description('connect to a peer by multiaddr (/ip4/.../tcp/.../p2p/<id>) or by peer id (DHT lookup)')
    .argument('<target>', 'multiaddr or peer id')
    .option('--json', 'print JSON')
    .action(ctx.action(connect))
  program.command('disconnect')
    .description('close every connection to a peer')
    .argument('<peer>', 'peer id')
    .option('--json', 'print JSON')
    .action(ctx.action(disconnect))
}

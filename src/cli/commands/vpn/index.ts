/**
 * `dmsnet vpn up|add|remove|down|status|ping`: the VPN through the running daemon (control methods
 * `vpn.*`, see docs/vpn.md).
 */
import type { Command } from 'commander'
import type { CliContext } from '../../context.js'
import { vpnAdd, vpnDown, vpnPing, vpnRemove, vpnStatus, vpnUp } from './handler.js'

export function register (program: Command, ctx: CliContext): void {
  const vpn = program.command('vpn').description('IP over libp2p between peers')
  vpn.command('up')
    .description('start a VPN with these peers (this node becomes its authority); without peers, resume the saved one')
    .argument('[peer...]', 'peer ids')
    .option('--json', 'print JSON')
    .action(ctx.action(vpnUp))
  vpn.command('add')
    .description('add a peer (authority)')
    .argument('<peer>', 'peer id')
    .option('--name <label>', 'DNS name (<label>.<vpn.domain>)')
    .option('--route <cidr...>', 'prefixes behind this peer')
    .option('--json', 'print JSON')
    .action(ctx.action(vpnAdd))
  vpn.command('remove')
    .description('remove a peer; it loses access at once (authority)')
    .argument('<peer>', 'peer id')
    .option('--json', 'print JSON')
    .action(ctx.action(vpnRemove))
  vpn.command('down')
    .description('take the VPN down on this node (devices, routes, rules removed; peers told)')
    .option('--forget', 'also forget the membership (on the authority: dissolve the VPN)')
    .option('--json', 'print JSON')
    .action(ctx.action(vpnDown))
  vpn.command('status')
    .description('members with address, path (direct/relayed), bytes and drops')
    .option('--json', 'print JSON')
    .action(ctx.action(vpnStatus))
  vpn.command('ping')
    .description('ping a member over the VPN')
    .argument('<target>', 'peer id, name or VPN address')
    .option('-c, --count <n>', 'number of pings', '3')
    .option('--json', 'print JSON')
    .action(ctx.action(vpnPing))
}

/**
 * `dmsnet swarm create|authorize|revoke|invite|join|leave|rotate|status`: private swarms through
 * the running daemon (control methods `swarm.*`, see docs/swarm.md); `keygen` writes a key file
 * for a static private network without a daemon.
 */
import type { Command } from 'commander'
import type { CliContext } from '../../context.js'
import { keygen, type KeygenOptions } from './keygen.js'
import { swarmAuthorize, swarmCreate, swarmInvite, swarmJoin, swarmLeave, swarmRevoke, swarmRotate, swarmStatus } from './handler.js'

export function register (program: Command, ctx: CliContext): void {
  const swarm = program.command('swarm').description('private swarms (pre-shared key networks)')
  swarm.command('create')
    .description('create a private swarm; this node becomes its creator and bootstrap node')
    .argument('<name>', 'swarm name ([A-Za-z0-9._-], up to 64)')
    .option('-a, --authorize <peer...>', 'peer ids allowed in from the start')
    .option('--json', 'print JSON')
    .action(ctx.action(swarmCreate))
  swarm.command('authorize')
    .description('allow a peer id into the swarm (creator)')
    .argument('<peer>', 'peer id')
    .option('--json', 'print JSON')
    .action(ctx.action(swarmAuthorize))
  swarm.command('revoke')
    .description('remove a peer id; the key is rotated unless --no-rotate (creator)')
    .argument('<peer>', 'peer id')
    .option('--no-rotate', 'do not rotate the key')
    .option('--json', 'print JSON')
    .action(ctx.action(swarmRevoke))
  swarm.command('invite')
    .description('print a one-time invite token for a new member (creator)')
    .option('--ttl <seconds>', 'validity in seconds (default one day)')
    .option('--json', 'print JSON')
    .action(ctx.action(swarmInvite))
  swarm.command('join')
    .description('join a swarm by invite token, by the creator\'s key-service multiaddr, or rejoin a known swarm by name')
    .argument('<target>', 'invite token (dmsnet-swarm:...), /ip4/.../p2p/<creator>, or swarm name')
    .option('--name <swarm>', 'swarm name, when joining by address')
    .option('--json', 'print JSON')
    .action(ctx.action(swarmJoin))
  swarm.command('leave')
    .description('leave the swarm and return to the public network')
    .option('--json', 'print JSON')
    .action(ctx.action(swarmLeave))
  swarm.command('rotate')
    .description('new key epoch: pushed sealed to the members, then everyone switches (creator)')
    .option('--json', 'print JSON')
    .action(ctx.action(swarmRotate))
  swarm.command('keygen')
    .description('write a new swarm key file (Kubo swarm.key format, mode 0600) for a static private network (swarm.keyFile)')
    .option('-o, --out <file>', 'where to write it (default <data dir>/swarm.key; - prints it to stdout)')
    .option('-f, --force', 'replace an existing file')
    .option('--json', 'print JSON')
    .action(async (opts: KeygenOptions, command: Command) => { await keygen(opts, command) })
  swarm.command('status')
    .description('swarm membership, epoch, authorised and connected peers')
    .option('--json', 'print JSON')
    .action(ctx.action(swarmStatus))
}

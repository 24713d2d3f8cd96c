/**
 * `dmsnet up`: start a node in the foreground.
 */
import type { Command } from 'commander'
import type { UpOptions } from './options.js'
import { reexecWithDaemonFlags } from './node-flags.js'

export function register (program: Command): void {
  program.command('up')
    .description('run a node in the foreground (Ctrl-C or "dmsnet stop" to stop)')
    .option('-l, --listen <multiaddrs>', 'listen addresses, comma-separated (network.listen)')
    .option('--announce <multiaddrs>', 'addresses to announce, comma-separated (network.announce)')
    .option('-b, --bootstrap <multiaddrs>', 'bootstrap peers /.../p2p/<id>, comma-separated (network.bootstrap)')
    .option('--profile <name>', 'server or lan (lan turns mDNS on)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (logging.level)')
    .option('--metrics', 'serve Prometheus metrics on 127.0.0.1 (metrics.enabled)')
    .option('--no-metrics', 'do not serve metrics')
    .option('--metrics-port <port>', 'metrics port; implies --metrics (metrics.port)')
    .option('--mdns', 'discover peers on the LAN with mDNS (network.mdns.enabled)')
    .option('--no-mdns', 'turn mDNS off')
    .option('--socket <path>', 'control socket path (control.socket)')
    .option('--json', 'print the ready and stopped notices as JSON lines instead of text')
    .addHelpText('after', '\nEvery setting can also come from the config file or DMSNET_* variables; see docs/config.md.')
    // the handler pulls in libp2p and every module: load it only when `up` actually runs, and
    // after the re-exec that gives the daemon its V8 memory flags (node-flags.ts)
    .action(async (opts: UpOptions, command: Command) => {
      reexecWithDaemonFlags()
      await (await import('./handler.js')).up(opts, command)
    })
}

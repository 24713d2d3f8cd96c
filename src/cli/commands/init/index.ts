/**
 * `dmsnet init`: prepare a data dir (identity + commented config file).
 */
import type { Command } from 'commander'
import type { InitOptions } from './handler.js'

export function register (program: Command): void {
  program.command('init')
    .description('create the data dir, an identity key and a commented config.yaml')
    .option('--profile <name>', 'server or lan', 'server')
    .option('-l, --listen <multiaddrs>', 'listen addresses, comma-separated')
    .option('-f, --force', 'overwrite an existing config.yaml (the key is kept)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: InitOptions, command: Command) => { await (await import('./handler.js')).init(opts, command) })
}

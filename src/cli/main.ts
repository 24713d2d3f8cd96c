/**
 * `dmsnet` command line. Commands live in `commands/<name>/index.ts` (each exports
 * `register(program, ctx)`) and are listed in commands/index.ts. Exit codes: see errors.ts.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError } from 'commander'
import { version } from '../daemon/version.js'
import { commandsFor } from './commands/index.js'
import { createCliContext } from './context.js'
import { describeError, exitCodeFor, EXIT_USAGE } from './errors.js'

/**
 * The program with its commands. With `argv`, only the command being run is loaded (see
 * commands/index.ts); without, every command (help, completion, tests).
 */
export async function buildProgram (argv?: readonly string[]): Promise<Command> {
  const program = new Command('dmsnet')
    .description('dmsnet: networking layer for a decentralized compute network (libp2p host, messaging, private swarms, VPN)')
    .version(version(), '-V, --version')
    .option('-d, --data-dir <dir>', 'data dir with config.yaml, identity key and control socket (default ~/.dmsnet, env DMSNET_DATA_DIR)')
    .option('--config <file>', 'config file, .yaml or .json (default <data dir>/config.yaml if present, env DMSNET_CONFIG)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
  program.configureOutput({ writeErr: s => process.stderr.write(s) })
  const ctx = createCliContext()
  const entries = commandsFor(argv)
  const loaded = await Promise.all(entries.map(async e => await e.load()))
  for (const { register } of loaded) register(program, ctx)
  // subcommands inherit exitOverride only when set before they are added; set it everywhere
  const walk = (c: Command): void => { c.exitOverride(); c.commands.forEach(walk) }
  walk(program)
  return program
}

/** Runs the CLI; resolves with the exit code (the caller exits). */
export async function main (argv: string[] = process.argv): Promise<number> {
  let program: Command
  try {
    program = await buildProgram(argv)
  } catch (err) {
    process.stderr.write(describeError(err) + '\n')
    return 1
  }
  if (argv.length <= 2) {
    program.outputHelp()
    return 0
  }
  try {
    await program.parseAsync(argv)
    return 0
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version "errors" are normal exits; commander already printed the message
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0
      return EXIT_USAGE
    }
    process.stderr.write(describeError(err) + '\n')
    return exitCodeFor(err)
  }
}

function isEntry (): boolean {
  if (process.argv[1] == null) return false
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntry()) {
  main().then(code => { process.exitCode ||= code }, err => {
    process.stderr.write(describeError(err) + '\n')
    process.exitCode = 1
  })
}

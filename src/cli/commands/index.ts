/**
 * Every `dmsnet` command, in the order `--help` lists them: the core ones first, then the
 * features alphabetically. A new command is a folder with an `index.ts` exporting
 * `register(program, ctx)`, and one entry here.
 *
 * Entries are loaded on demand (issue 10): `dmsnet up` runs for months, and every command module
 * it imports stays in its heap (the other 19 commands and their handlers cost ~1.5 MB of heap).
 * main.ts loads only the command being run, and all of them for top-level help, `dmsnet help`
 * and an unknown command.
 */
import type { Command } from 'commander'
import type { CliContext } from '../context.js'

export type RegisterCommand = (program: Command, ctx: CliContext) => void

export interface CommandEntry {
  /** The command word (and its folder name). */
  readonly name: string
  readonly load: () => Promise<{ register: RegisterCommand }>
  /** Needs the whole command tree registered (e.g. completion walks it). */
  readonly needsAll?: boolean
}

export const commands: readonly CommandEntry[] = [
  { name: 'init', load: async () => await import('./init/index.js') },
  { name: 'up', load: async () => await import('./up/index.js') },
  { name: 'status', load: async () => await import('./status/index.js') },
  { name: 'id', load: async () => await import('./id/index.js') },
  { name: 'peers', load: async () => await import('./peers/index.js') },
  { name: 'ping', load: async () => await import('./ping/index.js') },
  { name: 'connect', load: async () => await import('./connect/index.js') },
  { name: 'events', load: async () => await import('./events/index.js') },
  { name: 'stop', load: async () => await import('./stop/index.js') },
  { name: 'call', load: async () => await import('./call/index.js') },
  { name: 'completion', load: async () => await import('./completion/index.js'), needsAll: true },
  { name: 'job', load: async () => await import('./job/index.js') },
  { name: 'publish', load: async () => await import('./publish/index.js') },
  { name: 'request', load: async () => await import('./request/index.js') },
  { name: 'send', load: async () => await import('./send/index.js') },
  { name: 'service', load: async () => await import('./service/index.js') },
  { name: 'subscribe', load: async () => await import('./subscribe/index.js') },
  { name: 'swarm', load: async () => await import('./swarm/index.js') },
  { name: 'ui', load: async () => await import('./ui/index.js') },
  { name: 'vpn', load: async () => await import('./vpn/index.js') }
]

/** Global options that take a value (they come before the command word). */
const GLOBAL_WITH_VALUE = new Set(['-d', '--data-dir', '--config'])

/** The command word in `argv` (node, script, ...args), or undefined (none, or only options). */
export function commandWord (argv: readonly string[]): string | undefined {
  const args = argv.slice(2)
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') return args[i + 1]
    if (GLOBAL_WITH_VALUE.has(a)) { i++; continue }
    if (a.startsWith('-')) continue
    return a
  }
  return undefined
}

/**
 * The entries to register for this command line: only the command's own when it is known and
 * stands alone, otherwise all (help lists them, commander reports an unknown one with suggestions).
 */
export function commandsFor (argv?: readonly string[]): readonly CommandEntry[] {
  if (argv == null) return commands
  const word = commandWord(argv)
  const entry = commands.find(c => c.name === word)
  return entry == null || entry.needsAll === true ? commands : [entry]
}

/**
 * What every CLI command shares: the global options (`--data-dir`, `--config`), resolving the
 * configuration, reaching the daemon's control socket, and printing results as text or JSON.
 *
 * A command folder's `register(program, ctx)` wraps its handlers with `ctx.action(handler)`; see
 * docs/control.md ("Adding a CLI command").
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { createControlClient, type ControlClient } from '../control/client.js'
import { CliError, EXIT_USAGE } from './errors.js'

export interface GlobalOptions {
  dataDir?: string
  config?: string
}

export interface ActionArgs<O = Record<string, unknown>> {
  /** Positional arguments, in order. */
  args: string[]
  /** Positional argument `i`; a usage error (exit 2) when it is missing. */
  arg: (i: number) => string
  /** This command's own options. */
  opts: O
  globals: GlobalOptions
  /** The resolved configuration (file < env < flags). */
  config: Config
  /** Control client for the running daemon (calls fail with DaemonNotRunningError if none). */
  client: ControlClient
  /** Prints `value` as JSON when `json`, else `human(value)` (if given) or JSON. */
  out: <T>(value: T, json: boolean, human?: (v: T) => string) => void
}

export interface CliContext {
  action: <O = Record<string, unknown>>(handler: (a: ActionArgs<O>) => Promise<void>) => (...raw: unknown[]) => Promise<void>
}

function expandHome (p: string): string {
  if (p === '~') return homedir()
  if (p.startsWith('~/')) return join(homedir(), p.slice(2))
  return isAbsolute(p) ? p : resolve(p)
}

/** The data dir the user means, before the config is read (the config file may live there). */
export function dataDirFrom (globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string {
  return expandHome(globals.dataDir ?? env.DMSNET_DATA_DIR ?? '~/.dmsnet')
}

/** `--config`, else `DMSNET_CONFIG`, else `<dataDir>/config.yaml` when it exists. */
export function configFileFrom (globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = globals.config ?? env.DMSNET_CONFIG
  if (explicit != null) return expandHome(explicit)
  const dflt = join(dataDirFrom(globals, env), 'config.yaml')
  return existsSync(dflt) ? dflt : undefined
}

/** Loads the configuration for a command; `flags` are dotted keys (e.g. from `up`'s options). */
export function resolveConfig (globals: GlobalOptions, flags: Record<string, unknown> = {}): Config {
  const all: Record<string, unknown> = { ...flags }
  if (globals.dataDir != null) all.dataDir = globals.dataDir
  const { DMSNET_CONFIG: _ignored, ...env } = process.env
  return loadConfig({ file: configFileFrom(globals), env, flags: all })
}

export function printOut<T> (value: T, json: boolean, human?: (v: T) => string): void {
  if (json || human == null) process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  else process.stdout.write(human(value) + '\n')
}

export function createCliContext (): CliContext {
  return {
    action (handler) {
      return async (...raw: unknown[]) => {
        const command = raw[raw.length - 1] as Command
        const opts = command.opts()
        const args = raw.slice(0, -2).flatMap(a => Array.isArray(a) ? a as string[] : [a as string]).filter(a => a !== undefined)
        const globals = command.optsWithGlobals<GlobalOptions>()
        const config = resolveConfig({ dataDir: globals.dataDir, config: globals.config })
        const client = createControlClient({ socket: config.control.socket })
        const arg = (i: number): string => {
          const v = args[i]
          if (v == null) throw new CliError(`missing argument ${i + 1} (see dmsnet ${command.name()} --help)`, EXIT_USAGE)
          return v
        }
        await handler({ args, arg, opts: opts as never, globals, config, client, out: printOut })
      }
    }
  }
}

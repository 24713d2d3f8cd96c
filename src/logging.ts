/**
 * Logger factory: one pino child logger per component, JSON lines on stderr (stdout is kept for
 * command output and benchmark results). The level comes from the config, else from
 * `DMSNET_LOG_LEVEL`, else `info`.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'

export type { Logger }

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

let root: Logger | undefined

function envLevel (): LevelWithSilent | undefined {
  const l = process.env.DMSNET_LOG_LEVEL?.toLowerCase()
  return l != null && LEVELS.has(l) ? l as LevelWithSilent : undefined
}

function rootLogger (): Logger {
  root ??= pino({ level: envLevel() ?? 'info', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }))
  return root
}

/** Sets the level of every logger made by `createLogger` (call once the config is loaded). */
export function setLogLevel (level: string): void {
  if (!LEVELS.has(level)) return
  rootLogger().level = level
}

/**
 * A logger for `component` (e.g. `network`, `vpn:router`). `level` overrides the process-wide
 * level for this logger only.
 */
export function createLogger (component: string, level?: string): Logger {
  const child = rootLogger().child({ component })
  if (level != null && LEVELS.has(level)) child.level = level
  return child
}

/** The logger component: makes the logger of a sub-component (`network`, `swarm:keys`...). */
export type LoggerFactory = (component: string) => Logger

/**
 * The one logger factory of a node: its composition makes it and hands it down, so no module
 * builds its own. `prefix` names the node (several nodes in one process); `level` overrides the
 * process-wide level for this node's loggers only.
 */
export function createLoggerFactory (options: { prefix?: string, level?: string } = {}): LoggerFactory {
  return (component) => createLogger(options.prefix != null ? `${options.prefix}:${component}` : component, options.level)
}

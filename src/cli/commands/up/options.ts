/**
 * `dmsnet up` flags and the config keys they set (flags win over env and the config file).
 */
export interface UpOptions {
  listen?: string
  announce?: string
  bootstrap?: string
  profile?: string
  logLevel?: string
  metrics?: boolean
  metricsPort?: string
  mdns?: boolean
  socket?: string
  /** Output only: the ready/stopped notices as JSON lines (not a config key). */
  json?: boolean
}

/** Flag -> dotted config key. Lists are comma-separated; the config loader splits and validates them. */
export function upFlagsToConfig (o: UpOptions): Record<string, unknown> {
  const flags: Record<string, unknown> = {}
  if (o.listen != null) flags['network.listen'] = o.listen
  if (o.announce != null) flags['network.announce'] = o.announce
  if (o.bootstrap != null) flags['network.bootstrap'] = o.bootstrap
  if (o.profile != null) flags.profile = o.profile
  if (o.logLevel != null) flags['logging.level'] = o.logLevel
  if (o.metrics != null) flags['metrics.enabled'] = o.metrics
  if (o.metricsPort != null) {
    flags['metrics.port'] = o.metricsPort
    flags['metrics.enabled'] ??= true
  }
  if (o.mdns != null) flags['network.mdns.enabled'] = o.mdns
  if (o.socket != null) flags['control.socket'] = o.socket
  return flags
}

/**
 * Ready-made configurations: the embedded defaults of the demo (a LAN node on loopback with
 * mDNS) and a helper for tests that need throw-away nodes.
 */
import { loadConfig, type LoadConfigOptions } from './load.js'
import type { Config } from './schema.js'

/** Embedded defaults of the demo: listen on 127.0.0.1 (any TCP port), mDNS on, LAN profile. */
export const demoDefaults = {
  profile: 'lan',
  network: {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: { enabled: true },
    dht: { addressFilter: 'all' },
    autonat: { enabled: false },
    relay: { client: true, server: false },
    upnp: { enabled: false }
  },
  metrics: { enabled: false }
} as const

/**
 * Demo configuration: `demoDefaults` < file < env < flags. `dataDir` is where the demo keeps
 * its key and state.
 */
export function demoConfig (dataDir: string, options: Omit<LoadConfigOptions, 'base'> = {}): Config {
  return loadConfig({ ...options, base: { ...demoDefaults, dataDir } })
}

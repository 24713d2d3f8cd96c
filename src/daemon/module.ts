/**
 * The hook point for feature modules (messaging, swarm, VPN, ...): what the daemon gives a module
 * and what a module gives back. A module never reaches for the whole node: it gets the narrow
 * `NodeComponents` and earlier modules by name.
 */
import type { AbortOptions, PrivateKey } from '@libp2p/interface'
import type { Registry } from 'prom-client'
import type { Config } from '../config/schema.js'
import type { MethodRegistry } from '../control/registry.js'
import type { Logger } from '../logging.js'
import type { Network } from '../network/types.js'

export interface NodeComponents {
  config: Config
  /** The running network (already started when module factories are called). */
  network: Network
  /** The node's prom-client registry: add metrics named `dmsnet_<area>_*`. */
  metrics: Registry
  /** The node's identity key, read once by the composition (the same key the network runs on). */
  privateKey: PrivateKey
  /** Makes a logger for a sub-component, e.g. `logger('swarm:keys')`. */
  logger: (component: string) => Logger
  /** Modules created before this one, by name (creation order = the order in modules.ts). */
  getModule: <T extends NodeModule = NodeModule>(name: string) => T | undefined
}

export interface NodeModule {
  /** Unique, short (`messaging`, `swarm`, `vpn`); shown by `dmsnet status`. */
  readonly name: string
  /** Called in module order after the network started. Throwing aborts the daemon's start. */
  start?: (options?: AbortOptions) => Promise<void>
  /** Called in reverse order at shutdown; must not throw for an already stopped module. */
  stop?: (options?: AbortOptions) => Promise<void>
  /** Adds this module's control methods (after `start`). See docs/control.md. */
  registerControl?: (registry: MethodRegistry) => void
  /** A small JSON summary for `dmsnet status` (`modules.<name>`). */
  status?: () => unknown
}

/** Makes a module, or returns undefined when the config leaves it disabled. */
export type ModuleFactory = (components: NodeComponents) => NodeModule | undefined | Promise<NodeModule | undefined>

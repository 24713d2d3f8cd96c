/**
 * dmsnet public API: everything an embedder imports from `dmsnet`. Each area is also its own
 * subpath (`dmsnet/network`, `dmsnet/messaging`, `dmsnet/swarm`, `dmsnet/vpn`, `dmsnet/netdev`,
 * `dmsnet/config`, `dmsnet/node`, `dmsnet/control`; see package.json `exports`). Feature areas are
 * re-exported whole (each index.ts documents its surface); the node and the control API only by
 * the names an embedder needs, so daemon and server internals stay out of the root.
 */
export * from './errors.js'
export * from './logging.js'
export * from './config/index.js'
export * from './network/index.js'
export * from './messaging/index.js'
export * from './swarm/index.js'
export * from './vpn/index.js'
// host network devices: TUN/TAP, namespaces, links, veth, bridges, nftables firewall
export * from './netdev/index.js'

// the node `dmsnet up` runs, for embedding in another process
export { createNode, defaultModules, onShutdown, version } from './daemon/index.js'
export type { CreateNodeOptions, DmsnetNode, NodeModule, NodeComponents, ModuleFactory, Shutdown, ShutdownOptions } from './daemon/index.js'

// the control client: drive a running daemon as the CLI does
export { createControlClient, DaemonNotRunningError, MethodNotFoundError, ControlProtocolError, RequestTooLargeError, ResponseTooLargeError, RemoteError } from './control/index.js'
export type { ControlClient, ControlClientOptions, DmsnetApi, DmsnetMethod } from './control/index.js'

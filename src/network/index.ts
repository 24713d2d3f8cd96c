/**
 * The network module: the libp2p host, the node identity and the `Network` API.
 */
export * from './types.js'
export * from './errors.js'
export * from './identity.js'
export * from './host.js'
export * from './reachability.js'
export * from './network.js'
export * from './yamux-window.js'

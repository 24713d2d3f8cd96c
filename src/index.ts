// dmsnet public API: one `export *` line per module (each module's index.ts documents its surface).
export * from './errors.js'
export * from './logging.js'
export * from './config/index.js'
export * from './network/index.js'
export * from './messaging/index.js'
export * from './swarm/index.js'
export * from './vpn/index.js'

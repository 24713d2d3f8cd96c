/**
 * The daemon: one process running a dmsnet node (network, feature modules, control API, metrics).
 */
export { createNode } from './node.js'
export type { CreateNodeOptions, DmsnetNode } from './node.js'
export type { NodeModule, NodeComponents, ModuleFactory } from './module.js'
export { defaultModules } from './modules.js'
export { onShutdown } from './shutdown.js'
export type { Shutdown, ShutdownOptions } from './shutdown.js'
export { version } from './version.js'

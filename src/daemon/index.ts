/**
 * The daemon: one process running a dmsnet node. Three parts, kept apart:
 * - composition: `createNode` (node.ts) wires data dir, identity, network, the feature plug-ins,
 *   the control server and metrics together, and undoes it in reverse;
 * - plug-ins (features/, listed in modules.ts): each builds one feature (messaging, swarm, VPN,
 *   status page) on the node's components and implements that feature's control methods, as the
 *   catalogue (src/control/catalogue) declares them; the features themselves know nothing of this;
 * - process lifecycle: `onShutdown` (shutdown.ts), the one graceful stop path for signals.
 */
export { createNode } from './node.js'
export type { CreateNodeOptions, DmsnetNode } from './node.js'
export type { NodeModule, NodeComponents, ModuleFactory } from './module.js'
export { defaultModules } from './modules.js'
export { ECHO_TYPE } from './features/messaging.js'
export type { UiModule, UiLogin } from './features/ui.js'
export { onShutdown } from './shutdown.js'
export type { Shutdown, ShutdownOptions } from './shutdown.js'
export { version } from './version.js'

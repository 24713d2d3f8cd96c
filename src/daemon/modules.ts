/**
 * The feature plug-ins the daemon runs, in start order (stopped in reverse). A plug-in (features/)
 * builds its feature on the node's components and implements the feature's control methods; the
 * features themselves know nothing of the daemon or the control API. See docs/control.md.
 *
 *   import { messagingModule } from './features/messaging.js'
 *   export const defaultModules: ModuleFactory[] = [messagingModule, swarmModule, vpnModule]
 *
 * Order matters: a module may use those before it through `components.getModule(name)`.
 */
import type { ModuleFactory } from './module.js'
import { messagingModule } from './features/messaging.js'
import { swarmModule } from './features/swarm.js'
import { vpnModule } from './features/vpn.js'
import { uiModule } from './features/ui.js'

export const defaultModules: ModuleFactory[] = [
  messagingModule,
  swarmModule,
  vpnModule,
  // last: the status page reads the others' control methods
  uiModule
]

/**
 * The feature modules the daemon runs, in start order (stopped in reverse). Each helper adds its
 * module here with one import and one entry; see docs/control.md ("Adding control methods").
 *
 *   import { messagingModule } from '../messaging/module.js'
 *   export const defaultModules: ModuleFactory[] = [messagingModule, swarmModule, vpnModule]
 *
 * Order matters: a module may use those before it through `components.getModule(name)`.
 */
import type { ModuleFactory } from './module.js'
import { messagingModule } from '../messaging/module.js'
import { swarmModule } from '../swarm/module.js'
import { vpnModule } from '../vpn/module.js'
import { uiModule } from '../ui/module.js'

export const defaultModules: ModuleFactory[] = [
  messagingModule,
  swarmModule,
  vpnModule,
  // last: the status page reads the others' control methods
  uiModule
]

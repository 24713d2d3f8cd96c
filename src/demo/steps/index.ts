/**
 * The demo's steps, run in order once the nodes are up. Messaging, swarm and VPN demos go here
 * as new files (`steps/messaging.ts` exporting a `DemoStep`) added to this list.
 */
import { connectivity } from './connectivity.js'
import { messaging } from './messaging.js'
import { swarm } from './swarm.js'
import type { DemoStep } from './types.js'

export const steps: DemoStep[] = [
  connectivity,
  messaging,
  swarm
]

export type { DemoStep, DemoContext } from './types.js'

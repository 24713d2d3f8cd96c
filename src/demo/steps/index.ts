/**
 * The demo's steps, run in order once the nodes are up: one file per feature, each exporting a
 * `DemoStep`. A step that fails is reported and the next one still runs.
 */
import { connectivity } from './connectivity.js'
import { jobs } from './jobs.js'
import { messaging } from './messaging.js'
import { swarm } from './swarm.js'
import type { DemoStep } from './types.js'
import { vpn } from './vpn.js'

export const steps: DemoStep[] = [
  connectivity,
  messaging,
  jobs,
  swarm,
  vpn
]

export type { DemoStep, DemoContext } from './types.js'

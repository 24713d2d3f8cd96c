/**
 * A demo step: one feature shown on the running demo network (connectivity now; messaging, swarm
 * and VPN steps are added as files next to this one and listed in steps/index.ts).
 */
import type { DemoNode } from '../cluster.js'
import type { Printer } from '../printer.js'

export interface DemoContext {
  nodes: DemoNode[]
  print: Printer
  /** Aborted on Ctrl-C / end of the demo: steps must return promptly. */
  signal: AbortSignal
}

export interface DemoStep {
  /** Short title printed before the step runs. */
  title: string
  run (ctx: DemoContext): Promise<void>
}

/**
 * A demo step: one feature shown on the running demo network (connectivity, messaging, swarm,
 * VPN: one file each next to this one, listed in steps/index.ts).
 */
import type { DemoNode } from '../cluster.js'
import type { Printer } from '../printer.js'

export interface DemoContext {
  nodes: DemoNode[]
  print: Printer
  /** Aborted on Ctrl-C / end of the demo: steps must return promptly. */
  signal: AbortSignal
  /**
   * Registers work for the demo's shutdown (Ctrl-C, end of --duration, a failed start): for a
   * step that leaves something running, such as the VPN step's daemons and namespaces. Run in
   * reverse order before the nodes stop; a hook that throws does not stop the others.
   */
  onStop: (fn: () => Promise<void>) => void
}

export interface DemoStep {
  /** Short title printed before the step runs. */
  title: string
  run (ctx: DemoContext): Promise<void>
}

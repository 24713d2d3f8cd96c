/**
 * The command-line figures `bench ops` (real daemons) and `bench ops-local` (in-process nodes)
 * share: how many nodes, rounds, and operations of each kind per round. One place, so that both
 * benches read the same flag names and report the same batches.
 */
import { numArg } from './process.js'

export interface OpsArgs {
  nodes: number
  rounds: number
  lookups: number
  dials: number
  gossip: number
  /** pause between two operations of a batch */
  intervalMs: number
  /** idle seconds measured before the batches, as the baseline each batch's CPU is taken above */
  idleS: number
}

/** Reads the shared flags; `defaults` differ (real daemons are heavier, so fewer and slower). */
export function opsArgs (defaults: OpsArgs): OpsArgs {
  return {
    nodes: numArg('nodes', defaults.nodes),
    rounds: numArg('rounds', defaults.rounds),
    lookups: numArg('lookups', defaults.lookups),
    dials: numArg('dials', defaults.dials),
    gossip: numArg('gossip', defaults.gossip),
    intervalMs: numArg('interval', defaults.intervalMs),
    idleS: numArg('idle', defaults.idleS)
  }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

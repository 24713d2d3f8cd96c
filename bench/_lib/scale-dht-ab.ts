/**
 * The scale bench's DHT A/B (`--dht-ab R`): the same daemons, in the same minutes, look peers up
 * starting in each way (`node.dht.find-peer` `via`: `auto` = connected target or connected
 * neighbours first, `target` = stop 28's held target first, dialled if needed, `kad` = kad-dht
 * alone), R rounds with the order turned each round, and per way: latency, CPU of all daemons per
 * lookup (less their idle rate, measured first), link packets per lookup and TCP connections opened
 * per lookup, less their idle rate too (each daemon has its own network namespace, so its namespace's `ActiveOpens` in
 * /proc/<pid>/net/snmp counts exactly its dials). No ping after each lookup here: the ping to a
 * target the lookup did not connect to would dial it and count against the lookup.
 */
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { round } from './stats.js'
import { dhtLookups } from './scale-measure.js'
import { phase, type PhaseRecord } from './scale-phase.js'
import { cpuTicks } from './scale-util.js'
import type { ScaleNode, ScaleWorld } from './scale-world.js'

export type Via = 'auto' | 'target' | 'kad'

/** TCP connections the daemons' namespaces opened (dialled) so far, summed. */
export function tcpActiveOpens (pids: number[]): number {
  let sum = 0
  for (const pid of pids) {
    try {
      const lines = readFileSync(`/proc/${pid}/net/snmp`, 'utf8').split('\n').filter(l => l.startsWith('Tcp:'))
      const head = lines[0]!.split(/\s+/)
      const vals = lines[1]!.split(/\s+/)
      sum += Number(vals[head.indexOf('ActiveOpens')])
    } catch { /* a daemon gone: counted as none; the bench fails elsewhere */ }
  }
  return sum
}

export interface AbRound {
  via: Via
  round: number
  n: number
  success: number
  p50: number | null
  p95: number | null
  cpuMsPerLookup: number
  packetsPerLookup: number
  /** TCP connections opened by all daemons per lookup, less their idle rate; and all of them in the batch */
  dialsPerLookup: number
  rawDials: number
  paths: Record<string, number>
  load1m: number
}

export interface AbResult {
  idleCpuPct: number
  idleDialsPerS: number
  rounds: AbRound[]
  /** per way: min / median / max over rounds of each per-lookup figure, and latency of all lookups together */
  summary: Record<string, { cpuMsPerLookup: number[], packetsPerLookup: number[], dialsPerLookup: number[], p50: number[], p95: number[], success: number[] }>
}

const mmm = (xs: number[]): number[] => { const s = [...xs].sort((a, b) => a - b); return [s[0]!, s[s.length >> 1]!, s[s.length - 1]!] }

/** Total CPU seconds of `pids` so far. */
const cpuS = (pids: number[]): number => pids.reduce((sum, p) => sum + (cpuTicks(p) ?? 0), 0) / 100

export async function dhtAb (world: ScaleWorld, nodes: ScaleNode[], phases: PhaseRecord[], opts: { rounds: number, lookups: number, ways: Via[], random: () => number, log: (m: string) => void }): Promise<AbResult> {
  const pids = nodes.map(x => x.pid)
  const stats = async (reset: boolean): Promise<Awaited<ReturnType<typeof world.linkStats>>> => await world.linkStats(reset)
  // the daemons' idle rate, taken off each batch
  const i0 = cpuS(pids)
  const o0 = tcpActiveOpens(pids)
  const t0 = performance.now()
  await new Promise(resolve => setTimeout(resolve, 10_000))
  const idleSecs = (performance.now() - t0) / 1000
  const idleCpuPct = (cpuS(pids) - i0) / idleSecs * 100
  // the daemons dial without any lookup too (AutoNAT dial-backs, the keeper, re-dials of keep-alive peers)
  const idleDialsPerS = (tcpActiveOpens(pids) - o0) / idleSecs
  const rounds: AbRound[] = []
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 === 0 ? opts.ways : [...opts.ways].reverse()
    for (const via of order) {
      const c0 = cpuS(pids)
      const d0 = tcpActiveOpens(pids)
      const b0 = performance.now()
      const res = await phase(`dht-ab-${via}-${r + 1}`, phases, stats, async () => await dhtLookups(nodes, opts.lookups, opts.random, { via, ping: false }), pids)
      const secs = (performance.now() - b0) / 1000
      const rec = phases[phases.length - 1]!
      const cpuMs = (cpuS(pids) - c0 - idleCpuPct / 100 * secs) * 1000
      const row: AbRound = {
        via,
        round: r + 1,
        n: res.n,
        success: res.success,
        p50: res.latency.p50,
        p95: res.latency.p95,
        cpuMsPerLookup: round(cpuMs / res.n, 1),
        packetsPerLookup: round(rec.link.packets / res.n, 1),
        dialsPerLookup: round((tcpActiveOpens(pids) - d0 - idleDialsPerS * secs) / res.n, 2),
        rawDials: tcpActiveOpens(pids) - d0,
        paths: res.paths,
        load1m: round(loadavg()[0]!, 1)
      }
      rounds.push(row)
      opts.log(`DHT A/B round ${row.round} via ${via}: ${row.n} lookups, ${row.success * 100}% found, p50 ${row.p50} p95 ${row.p95} ms; per lookup ${row.cpuMsPerLookup} ms CPU (all daemons, idle ${round(idleCpuPct, 1)}% taken off), ${row.packetsPerLookup} packets, ${row.dialsPerLookup} dials (${row.rawDials} in the batch, idle ${round(idleDialsPerS, 1)}/s taken off); paths ${JSON.stringify(row.paths)}; load ${row.load1m}`)
    }
  }
  const summary: AbResult['summary'] = {}
  for (const via of opts.ways) {
    const rs = rounds.filter(x => x.via === via)
    summary[via] = {
      cpuMsPerLookup: mmm(rs.map(x => x.cpuMsPerLookup)),
      packetsPerLookup: mmm(rs.map(x => x.packetsPerLookup)),
      dialsPerLookup: mmm(rs.map(x => x.dialsPerLookup)),
      p50: mmm(rs.map(x => x.p50 ?? 0)),
      p95: mmm(rs.map(x => x.p95 ?? 0)),
      success: mmm(rs.map(x => x.success))
    }
    opts.log(`DHT A/B via ${via} (min/median/max over ${rs.length} rounds): CPU ms per lookup ${summary[via].cpuMsPerLookup.join('/')}, dials ${summary[via].dialsPerLookup.join('/')}, packets ${summary[via].packetsPerLookup.join('/')}, p50 ${summary[via].p50.join('/')}, p95 ${summary[via].p95.join('/')}`)
  }
  return { idleCpuPct: round(idleCpuPct, 2), idleDialsPerS: round(idleDialsPerS, 2), rounds, summary }
}

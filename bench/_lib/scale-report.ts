/**
 * What the scale bench leaves in docs/scale/: one SVG chart per figure against N, and a markdown
 * file with the tables of the run (docs/scale.md quotes them and links the charts).
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { lineChart, type Series } from './scale-plot.js'
import type { Bids, Convergence, Gossip, Lookups, Requests, Usage } from './scale-measure.js'
import type { SwarmResult, VpnResult } from './scale-private.js'
import type { LinkdStats } from './scale-linkd.js'
import type { PhaseRecord, Settle } from './scale-phase.js'

export interface SizeResult {
  nodes: number
  /** the machine's 1-minute load average when the size was measured (2 cores shared with others) */
  loadAvg1m: number
  /** each phase's duration, load average and link-process context (./scale-phase.ts) */
  phases: PhaseRecord[]
  convergence: Convergence
  /** waiting for the start-up work to end before measuring (null: not waited) */
  settle: Settle | null
  dht: Lookups
  gossip: Gossip
  bids: Bids
  requests: Requests
  usage: Usage
  linkCpuPct: number | null
  link: LinkdStats
}

interface Chart { file: string, title: string, yLabel: string, target?: number, series: Array<[string, (r: SizeResult) => number | null]> }

const CHARTS: Chart[] = [
  { file: 'converge.svg', title: 'Time until every node has >= 8 connections and a full routing table', yLabel: 'ms', series: [['since the size\'s first new daemon', r => r.convergence.ms]] },
  { file: 'dht-lookup.svg', title: 'DHT peer lookup (network query)', yLabel: 'ms', target: 1000, series: [['p50', r => r.dht.latency.p50], ['p95', r => r.dht.latency.p95], ['p99', r => r.dht.latency.p99]] },
  { file: 'dht-success.svg', title: 'DHT lookup success', yLabel: '%', target: 99, series: [['found', r => r.dht.success * 100]] },
  { file: 'gossip-all.svg', title: 'Gossip: publish -> delivered to every node', yLabel: 'ms', target: 2000, series: [['p50', r => r.gossip.allMs.p50], ['p95', r => r.gossip.allMs.p95]] },
  { file: 'gossip-delivery.svg', title: 'Gossip delivery ratio', yLabel: '%', target: 99.9, series: [['delivered', r => r.gossip.delivery * 100]] },
  { file: 'bids.svg', title: 'Job bids received (worst round) vs expected', yLabel: 'bids', series: [['received', r => Math.min(...r.bids.rounds.map(b => b.received))], ['expected', r => r.nodes - 1]] },
  { file: 'bids-last.svg', title: 'Time to the last bid (worst round)', yLabel: 'ms', series: [['last bid', r => Math.max(...r.bids.rounds.map(b => b.lastMs ?? 0))]] },
  { file: 'request-far.svg', title: 'Direct request to a node of the farthest site', yLabel: 'ms', series: [['p50', r => r.requests.latency.p50], ['p95', r => r.requests.latency.p95]] },
  { file: 'idle-cpu.svg', title: 'Idle CPU per daemon (% of one core)', yLabel: '% of a core', target: 1, series: [['median', r => r.usage.cpuPct.median], ['max', r => r.usage.cpuPct.max]] },
  { file: 'rss.svg', title: 'RSS per daemon after the run', yLabel: 'MB', target: 80, series: [['median', r => r.usage.rssMb.median], ['max', r => r.usage.rssMb.max]] }
]

const v = (x: number | null | undefined): string => x == null ? '-' : String(x)

export async function writeReport (dir: string, results: SizeResult[], summary: Record<string, unknown>, swarm?: SwarmResult, vpn?: VpnResult, failures: string[] = []): Promise<void> {
  const failed = (part: string): string => failures.find(f => f.startsWith(`${part}:`)) ?? `${part}: not run.`
  for (const c of CHARTS) {
    const series: Series[] = c.series.map(([label, f]) => ({ label, points: results.map(r => ({ x: r.nodes, y: f(r) })) }))
    await writeFile(join(dir, c.file), lineChart({ title: c.title, yLabel: c.yLabel, series, ...(c.target != null ? { target: c.target } : {}) }))
  }
  const rows = results.map(r => {
    const bidsMin = Math.min(...r.bids.rounds.map(b => b.received))
    const bidLast = Math.max(...r.bids.rounds.map(b => b.lastMs ?? 0))
    return `| ${r.nodes} | ${v(r.convergence.ms)} (${r.convergence.nodesOk}/${r.nodes}) | ${r.convergence.connsMedian} / ${r.convergence.rtMedian} | ${v(r.dht.latency.p50)} / ${v(r.dht.latency.p95)} / ${v(r.dht.latency.p99)} | ${(r.dht.success * 100).toFixed(1)}% | ${v(r.gossip.allMs.p50)} / ${v(r.gossip.allMs.p95)} | ${(r.gossip.delivery * 100).toFixed(2)}% | ${bidsMin}/${r.nodes - 1}, ${bidLast} ms | ${v(r.requests.latency.p50)} / ${v(r.requests.latency.p95)} (${r.requests.ok}/${r.requests.n}) | ${r.usage.cpuPct.median} / ${r.usage.cpuPct.max} (${r.usage.sliceMaxPct ?? '-'}) | ${r.usage.rssMb.median} / ${r.usage.rssMb.max} | ${r.linkCpuPct?.toFixed(1) ?? '-'} | ${r.loadAvg1m} |`
  })
  const md = [
    '<!-- written by `npm run bench -- scale`; docs/scale.md quotes it -->',
    '',
    '| N | converged (ms, nodes ok) | connections / routing table (median) | DHT lookup p50 / p95 / p99 ms | DHT found | gossip to all p50 / p95 ms | gossip delivered | bids (worst round), last bid | far request p50 / p95 ms | idle CPU % median / max (busiest 30-s slice) | RSS MB median / max | link process CPU % | load avg |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Per phase: the machine\'s 1-minute load average (2 cores), the CPU the daemons used (together, in % of one core, and per daemon) and the whole machine\'s (% of one core, of 200), and the link process\'s extra hold time (how long packets stayed beyond their configured delay).',
    '',
    '| N | phase | s | load start / end / max | daemons CPU % (each) | machine CPU % of 200 | packets | extra hold mean / max ms | > 5 ms late | queue depth max | uplink wait max ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.flatMap(r => r.phases.map(p => `| ${r.nodes} | ${p.phase} | ${Math.round(p.ms / 1000)} | ${p.load1m.start} / ${p.load1m.end} / ${p.load1m.max} | ${p.cpu.daemonsPct} (${p.cpu.perDaemonPct}) | ${p.cpu.machinePct} | ${p.link.packets} | ${p.link.lateMeanMs} / ${p.link.lateMaxMs} | ${p.link.late5ms} | ${p.link.heldMax} | ${p.link.queueWaitMaxMs} |`)),
    '',
    ...results.map(r => r.settle == null ? `N=${r.nodes}: measured right after convergence (no settling wait).` : `N=${r.nodes}: ${r.settle.ms != null ? `the daemons settled ${r.settle.ms} ms after convergence` : 'the daemons did NOT settle within the bound'}; per 10 s, CPU per daemon: ${r.settle.trace.map(t => t.perDaemonPct).join(', ')} %.`),
    '',
    ...results.flatMap(r => r.gossip.subscriptionFailures.map(f => `N=${r.nodes}: node ${f.node}'s gossip subscription broke (${f.error}); ${f.resubscribed ? 'subscribed again' : 'not resubscribed'}.`)),
    '',
    swarm != null ? `Private swarm of ${swarm.members}: all joined in ${swarm.joinAllMs} ms; rotate() ${swarm.rotateCallMs} ms; every member on the new epoch after ${v(swarm.rotateAllMs)} ms (${swarm.onNewEpoch}/${swarm.members}); messages sent ${swarm.sent}, acknowledged ${swarm.acked}, lost ${swarm.lost}, failed sends ${swarm.sendErrors}; key pushes failed in rotate(): ${swarm.pushFailed.length}${swarm.pushFailed.length > 0 ? ` (${swarm.pushFailed.map(f => `node ${f.node} on the new epoch after ${v(f.ms)} ms`).join(', ')})` : ''}.` : `Private ${failed('swarm')}`,
    '',
    vpn != null ? `VPN of ${vpn.members}: up on every member after ${vpn.upAllMs} ms; ${vpn.linksDownAtStart} member links without a tunnel stream when the pings started; ${vpn.pairsOkFirst}/${vpn.pairs} pairs answered the first ping (3 echo requests), ${vpn.pairsOk}/${vpn.pairs} with retries; ${vpn.echoAnswered}/${vpn.echoSent} echo requests answered; RTT p50 ${v(vpn.rtt.p50)} ms, p95 ${v(vpn.rtt.p95)} ms (${vpn.rtt.n} replies).` : failed('VPN'),
    ...(vpn?.misses ?? []).map(m => `- missed the first ping: ${m}`),
    '',
    '```json',
    JSON.stringify({ ...summary, per_size: undefined }, null, 1),
    '```',
    ''
  ].join('\n')
  await writeFile(join(dir, 'latest.md'), md)
}

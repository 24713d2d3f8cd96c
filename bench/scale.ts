/**
 * `npm run bench -- scale`: real `dmsnet up` daemons, one per network namespace, over emulated
 * internet links between sites (a userspace delay line on the project's TUN binding: RTT per
 * site pair, loss, an uplink rate cap; checked with ping first). The network grows through the
 * sizes given (default 25, 50, 100); at each size it measures convergence, DHT lookups, gossip to
 * all, job bids, a direct request to a far node, and idle CPU/RSS per daemon. At the end: a
 * private swarm with one key rotation under message load, and a VPN with an all-pairs ping.
 * Writes a plot per figure and a table into docs/scale/, and one JSON line last on stdout.
 *
 * Options: --sizes 25,50,100  --sites 5  --rtt-min 20  --rtt-max 80  --intra-rtt 2  --loss 0.005
 * --rate-mbit 20  --queue-ms 200  --wave 10  --swarm 50  --vpn 20  --seed 1  --converge-s 300
 * --settle-s 240 --settle-pct 1 --settle-windows 2 (after convergence, wait until the daemons' mean CPU is <= 1% of a core in 2 10-s windows in a row; 0 = do not wait)
 * --profile-nodes 5,6 (these daemons write V8 CPU profiles to <out>/prof/, sliced per phase by phases' monoUs)
 * --lookups 50  --gossip 40  --jobs 3  --requests 40  --idle-s 180 (the idle window: long enough to hold the daemons' periodic jobs; its busiest 30-s slice is reported too)  --out docs/scale
 * --ab-env "KEY=value ..." (the odd daemons get these variables, e.g. DMSNET_* config; idle CPU, RSS, anon per half in `ab`; a value may
 * hold spaces but not " NAME=", which starts the next variable; DMSNET_NODE_FLAGS here replaces --profile-nodes' profiler flags on odd nodes)
 * `memory_reclaim` in the JSON: every daemon's `modules.memory` at the idle window's end (reclaims, tidies, RSS since the last
 * reclaim) and where its anonymous memory is (`heapMb`: V8's spaces, ArrayBuffers, malloc's live and free bytes, the rest)
 * --lean (AutoNAT, DCUtR and relay client off; default: as a fresh `dmsnet up`)
 * --low-water L --high-water H (the daemons' connection trim marks; default: the daemon's own, 32/64):
 * low marks make a small network behave like a large one, where most nodes are not connected to each other
 * --dht-ab R (R rounds of a DHT A/B after the idle window, `--dht-ab-lookups` 30 each, ways `--dht-ab-ways`
 * auto,target: see bench/_lib/scale-dht-ab.ts; 0 = none)
 * --node-binary private|shared (default private: each daemon runs its own cold copy of the node binary, as on a host of its
 * own; shared: one copy for all, so RSS counts pages other daemons map too; docs/scale.md, twenty-first round)
 */
import { spawnSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { DEFAULT_DAEMON_NODE_FLAGS } from '../src/cli/commands/up/node-flags.js'
import { sliceProfiles } from './_lib/scale-profile.js'
import { numArg, progress, writeJsonLine } from './_lib/process.js'
import { seededRandom, siteRttMatrix } from './_lib/scale-delayline.js'
import { dhtLookups, farRequests, gossip, idleUsage, jobBids, pingCheck, waitConverged } from './_lib/scale-measure.js'
import { describePhase, phase, waitSettled, type PhaseRecord } from './_lib/scale-phase.js'
import { writeReport, type SizeResult } from './_lib/scale-report.js'
import { swarmRotation, vpnAllPairs, type SwarmResult, type VpnResult } from './_lib/scale-private.js'
import { cpuPercent } from './_lib/scale-util.js'
import { dhtAb, type AbResult, type Via } from './_lib/scale-dht-ab.js'
import { createScaleWorld, sweepScaleLeftovers } from './_lib/scale-world.js'
import { coldNodeCopy, fileHugePagesMb, type ColdNode } from './_lib/node-binary.js'

const log = progress('scale')

function strArg (name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] != null ? process.argv[i + 1]! : dflt
}

const sizes = strArg('sizes', '25,50,100').split(',').map(Number)
const sites = numArg('sites', 5)
const rttMin = numArg('rtt-min', 20)
const rttMax = numArg('rtt-max', 80)
const intraRtt = numArg('intra-rtt', 2, true)
const loss = numArg('loss', 0.005, true)
const rateMbit = numArg('rate-mbit', 20, true)
const queueMs = numArg('queue-ms', 200)
const wave = numArg('wave', 10)
const swarmSize = numArg('swarm', 50, true)
const vpnSize = numArg('vpn', 20, true)
const seed = numArg('seed', 1)
const convergeS = numArg('converge-s', 300)
// after convergence, wait (at most this long) until the daemons' start-up work is done before measuring
const settleS = numArg('settle-s', 240)
const settlePct = numArg('settle-pct', 1)
const settleWindows = numArg('settle-windows', 2)
// these nodes run with V8's sampling profiler; their profiles (and the phases' monotonic times, to
// slice them by phase) land in <out>/prof/
const profileNodes = (process.argv.includes('--profile-nodes') ? process.argv[process.argv.indexOf('--profile-nodes') + 1] ?? '' : '')
  .split(',').filter(x => x !== '').map(Number)
const profileEnv = (i: number): Record<string, string> => profileNodes.includes(i)
  ? { DMSNET_BUNDLE: '0', DMSNET_NODE_FLAGS: `${DEFAULT_DAEMON_NODE_FLAGS.join(' ')} --cpu-prof --cpu-prof-interval=2000 --cpu-prof-dir=${resolve(outDir, 'prof')} --cpu-prof-name=node-${i}.cpuprofile` }
  : {}
// a same-run A/B at scale: the odd daemons get these variables (DMSNET_* config), the figures per half in `ab`
// split before each NAME=, so that a value may hold spaces (DMSNET_NODE_FLAGS=--a --b)
const AB_ENV: Record<string, string> = Object.fromEntries(strArg('ab-env', '').trim().split(/\s+(?=[A-Za-z_][A-Za-z0-9_]*=)/).filter(f => f.includes('=')).map(f => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]))
const abOn = Object.keys(AB_ENV).length > 0
const nodeEnv = (i: number): Record<string, string> => ({ ...profileEnv(i), ...(i % 2 === 1 ? AB_ENV : {}) })
const lookups = numArg('lookups', 50)
// 40: the p95 of 10 messages is their maximum (one straggler of 990 deliveries decides it)
const gossipMsgs = numArg('gossip', 40)
const jobRounds = numArg('jobs', 3)
const requests = numArg('requests', 40)
const idleS = numArg('idle-s', 180)
const outDir = strArg('out', join('docs', 'scale'))
const lean = process.argv.includes('--lean')
const abRounds = numArg('dht-ab', 0, true)
const abLookups = numArg('dht-ab-lookups', 30)
const abWays = strArg('dht-ab-ways', 'auto,target').split(',') as Via[]
if (abWays.some(w => !['auto', 'target', 'kad'].includes(w))) fail('--dht-ab-ways: a list of auto, target, kad')
const lowWater = numArg('low-water', 0, true)
const highWater = numArg('high-water', 0, true)
const water = lowWater > 0 || highWater > 0 ? { lowWater, highWater } : undefined
if (water != null && !(water.lowWater > 0 && water.highWater >= water.lowWater)) fail('--low-water and --high-water go together, 0 < low <= high')

function fail (why: string): never {
  process.stderr.write(`[scale] FAILED: ${why}\n`)
  process.exit(1)
}

if (sizes.some(n => !Number.isInteger(n) || n < 3) || sizes.some((n, i) => i > 0 && n <= sizes[i - 1]!)) fail('--sizes must be increasing integers >= 3, e.g. 25,50,100')
const maxN = sizes[sizes.length - 1]!
if (swarmSize + vpnSize > maxN) fail(`--swarm ${swarmSize} + --vpn ${vpnSize} need at least that many nodes (largest size ${maxN})`)
if (typeof process.getuid !== 'function' || process.getuid() !== 0) fail('needs root (network namespaces, TUN devices)')
// the links are checked with ping before anything is measured: without it that check would read
// "no reply" after minutes of bring-up, and blame the links
if (spawnSync('ping', ['-V'], { stdio: 'ignore' }).error != null) fail('needs ping (Debian: apt-get install iputils-ping; .ci/run installs it)')

const rtt = siteRttMatrix({ sites, minMs: rttMin, maxMs: rttMax, intraMs: intraRtt, seed })
const random = seededRandom(seed * 7919)
const deaths: string[] = []

let profiledPhases: PhaseRecord[] = []

// `--node-binary private` (default): every daemon runs a copy of this node of its own, as it would on
// a host of its own (the sites stand for hosts across the internet), so the pages of the binary it
// maps are mapped by no other process: its RSS is then the memory it costs, and the idle reclaim's
// MADV_PAGEOUT can free its start-up pages (it cannot free a page another process maps).
// `shared`: one copy for all, as 100 daemons on one host would run; RSS then counts the pages the
// others keep mapped too (compare `pss_mb`). Either way every copy starts cold in the page cache
// (node-binary.ts: RSS would otherwise depend on what read the binary before the run).
const binaryMode = strArg('node-binary', 'private')
if (binaryMode !== 'private' && binaryMode !== 'shared') fail('--node-binary: private or shared')
const hugeMb = fileHugePagesMb()
const nodeCopies: ColdNode[] = []
process.on('exit', () => { for (const c of nodeCopies) c.remove() })
/** the copies, made before the first daemon starts (100 take ~20 s and ~12 GB of /var/tmp), so that no copy is written during a measured phase */
function prepareCopies (): void {
  const want = binaryMode === 'private' ? maxN : 1
  while (nodeCopies.length < want) nodeCopies.push(coldNodeCopy(`node-${nodeCopies.length}`))
}
const execPathFor = (i: number): string => nodeCopies[binaryMode === 'private' ? i : 0]!.path
const nodeBinaryNote = (): Record<string, unknown> => ({
  mode: binaryMode,
  binary: binaryMode === 'private' ? 'a copy of the bench\'s node binary per daemon, made for the run' : 'a copy of the bench\'s node binary made for the run, shared by every daemon',
  copies: nodeCopies.length,
  pageCacheDropped: nodeCopies.every(c => c.dropped),
  hostFileHugePagesMbBefore: hugeMb
})

async function main (): Promise<void> {
  const swept = await sweepScaleLeftovers()
  if (swept.length > 0) log(`removed leftovers of an earlier run: ${swept.join(', ')}`)
  log(`${lean ? 'lean nodes (AutoNAT, DCUtR, relay client off)' : 'nodes as a default dmsnet up (AutoNAT, DCUtR, relay client on)'}, DHT server mode`)
  if (water != null) log(`connection trim marks ${water.lowWater}/${water.highWater} (low/high)`)
  prepareCopies()
  const cold = nodeCopies.every(c => c.dropped)
  log(`daemons run ${binaryMode === 'private' ? `a copy each (${nodeCopies.length})` : 'one shared copy'} of this node binary${cold ? ', dropped from the page cache before the first start' : ' (a page cache could NOT be dropped: file-page RSS may read high)'}; host file pages in 2-MB folios before the copies: ${hugeMb ?? '?'} MB`)
  log(`sites ${sites}, RTT ${rttMin}-${rttMax} ms between sites (${intraRtt} ms inside), loss ${loss * 100}% per direction, uplink ${rateMbit} Mbit/s per node, queue ${queueMs} ms`)
  const world = await createScaleWorld({
    execPath: execPathFor,
    rtt,
    loss,
    rateBitsPerSec: rateMbit * 1e6,
    maxQueueMs: queueMs,
    seed,
    lean,
    ...(water != null ? { connectionWater: water } : {}),
    onExit: (n, code) => { deaths.push(`node ${n.index} exited (code ${code}): ${n.stderrTail()}`) }
  })
  let stopping = false
  const onSignal = (sig: string): void => {
    if (stopping) return
    stopping = true
    log(`${sig}: cleaning up`)
    void world.close().finally(() => { process.exit(130) })
  }
  process.on('SIGINT', () => { onSignal('SIGINT') })
  process.on('SIGTERM', () => { onSignal('SIGTERM') })
  const checkAlive = (): void => { if (deaths.length > 0) throw new Error(`${deaths.length} daemon(s) died: ${deaths[0]}`) }

  try {
    const results: SizeResult[] = []
    let ab: AbResult | undefined
    let pings: Awaited<ReturnType<typeof pingCheck>> | undefined
    const bootstrap: string[] = []
    for (const n of sizes) {
      const t0 = Date.now()
      const have = world.nodes.length
      const todo = Array.from({ length: n - have }, (_, k) => have + k)
      // the first three are the bootstrap nodes, one per site, started one after the other
      while (todo.length > 0 && bootstrap.length < 3) {
        const i = todo.shift()!
        const node = await world.addNode(i, i % sites, [...bootstrap], nodeEnv(i))
        bootstrap.push(node.addr)
      }
      for (let w = 0; w < todo.length; w += wave) {
        await Promise.all(todo.slice(w, w + wave).map(async i => await world.addNode(i, i % sites, bootstrap, nodeEnv(i))))
        checkAlive()
        log(`${world.nodes.length}/${n} daemons up (${Math.round((Date.now() - t0) / 1000)} s)`)
      }
      const nodes = world.nodes.slice(0, n)
      if (pings == null) {
        pings = await pingCheck(world, nodes, rtt, log)
        if (!pings.ok) throw new Error('the emulated links do not match their configuration (ping above); refusing to measure')
      }
      const phases: PhaseRecord[] = []
      profiledPhases = phases
      const stats = async (reset: boolean): Promise<Awaited<ReturnType<typeof world.linkStats>>> => await world.linkStats(reset)
      const pids = nodes.map(x => x.pid)
      const conv = await phase('converge', phases, stats, async () => await waitConverged(nodes, 8, 20, convergeS * 1000, t0, log), pids)
      log(`N=${n}: converged ${conv.ms != null ? `after ${conv.ms} ms` : `NOT within ${convergeS} s (${conv.nodesOk}/${n} nodes)`}`)
      checkAlive()
      const settle = settleS > 0 ? await phase('settle', phases, stats, async () => await waitSettled(pids, settlePct, settleS * 1000, log, settleWindows), pids) : null
      if (settle != null) log(`N=${n}: ${settle.ms != null ? `settled after ${settle.ms} ms` : `NOT settled within ${settleS} s`} (daemons <= ${settlePct}% of a core each)`)
      const dht = await phase('dht', phases, stats, async () => await dhtLookups(nodes, lookups, random), pids)
      log(`N=${n}: DHT lookups ${dht.success * 100}% found, p50 ${dht.latency.p50} p95 ${dht.latency.p95} p99 ${dht.latency.p99} ms, ${dht.askedMedian} peers asked (median); paths ${JSON.stringify(dht.paths)}`)
      for (const f of dht.failures) log(`N=${n}: DHT lookup failed: ${f}`)
      const b = dht.breakdown
      log(`N=${n}: DHT lookup breakdown p50/p95 ms: first query sent ${b.firstQueryMs.p50}/${b.firstQueryMs.p95}, first answer ${b.firstResponseMs.p50}/${b.firstResponseMs.p95}, control call ${b.callMs.p50}/${b.callMs.p95}, a libp2p ping to the same peer ${b.pingMs.p50}/${b.pingMs.p95}; queries ${b.queriesMedian}, failed ${b.queryErrorsMedian} (medians)`)
      const gs = await phase('gossip', phases, stats, async () => await gossip(nodes, gossipMsgs, `/scale/${n}`, random, log), pids)
      log(`N=${n}: gossip delivery ${gs.delivery * 100}%, to all p50 ${gs.allMs.p50} p95 ${gs.allMs.p95} ms (each p50 ${gs.eachMs.p50} p95 ${gs.eachMs.p95}; to all from before the control call p50 ${gs.allFromCallMs.p50} p95 ${gs.allFromCallMs.p95})`)
      const bids = await phase('bids', phases, stats, async () => await jobBids(nodes, jobRounds, 10_000, log), pids)
      const req = await phase('requests', phases, stats, async () => await farRequests(nodes, rtt, requests, random), pids)
      log(`N=${n}: far requests ${req.ok}/${req.n} answered, p50 ${req.latency.p50} p95 ${req.latency.p95} ms`)
      checkAlive()
      // let the activity above die down, then watch the daemons doing nothing
      await new Promise(resolve => setTimeout(resolve, 15_000))
      const [usage, linkCpu] = await phase('idle', phases, stats, async () => await Promise.all([idleUsage(nodes, idleS * 1000, 30_000, abOn), cpuPercent([world.linkdPid], idleS * 1000)]), pids)
      // the A/B at the last size only, after the idle window: the dials of its `target` and `kad`
      // lookups would otherwise change the connections (and memory) the idle window measures
      if (abRounds > 0 && n === sizes[sizes.length - 1]) {
        // a failure here is logged and leaves the run's other figures standing
        ab = await dhtAb(world, nodes, phases, { rounds: abRounds, lookups: abLookups, ways: abWays, random, log })
          .catch((err: Error) => { log(`DHT A/B failed: ${err.stack ?? err.message}`); return undefined })
      }
      for (const p of phases) log(`N=${n}: phase ${describePhase(p)}`)
      for (const nd of nodes.filter(x => x.controlRetries.length > 0)) log(`N=${n}: node ${nd.index}: ${nd.controlRetries.length} control call(s) made again after a socket failure, first: ${nd.controlRetries[0]}`)
      log(`N=${n}: machine load average ${loadavg()[0]!.toFixed(1)} (2 cores, shared)`)
      log(`N=${n}: idle CPU per daemon median ${usage.cpuPct.median}% max ${usage.cpuPct.max}% of a core over ${idleS} s (busiest ${usage.sliceS ?? idleS}-s slice ${usage.sliceMaxPct ?? '?'}%); RSS median ${usage.rssMb.median} max ${usage.rssMb.max} MB; link process ${linkCpu[0]?.toFixed(1)}%`)
      if (usage.ab != null) log(`N=${n}: A/B at idle (a: even daemons, b: odd with ${JSON.stringify(AB_ENV)}): ${JSON.stringify(usage.ab)}`)
      if (usage.reclaim != null) log(`N=${n}: idle reclaims at the window's end: ${JSON.stringify(usage.reclaim)}`)
      log(`N=${n}: busiest at idle (node: CPU %, connections): ${(usage.top ?? []).map(t => `${t.node}: ${t.cpuPct}%, ${t.conns ?? '?'}`).join('; ')}; largest (node: RSS MB): ${(usage.topRss ?? []).map(t => `${t.node}: ${t.rssMb}`).join('; ')}`)
      results.push({ nodes: n, loadAvg1m: Math.round(loadavg()[0]! * 10) / 10, phases, convergence: conv, settle, dht, gossip: gs, bids, requests: req, usage, linkCpuPct: linkCpu[0] ?? null, link: await world.linkStats() })
    }

    const all = world.nodes
    let vpn: VpnResult | undefined
    let swarm: SwarmResult | undefined
    // a part that fails is reported with the figures already measured, then the bench fails
    const failures: string[] = []
    if (vpnSize > 0) {
      try { vpn = await vpnAllPairs(all.slice(all.length - vpnSize), log, { outDir }) } catch (err) { failures.push(`VPN: ${(err as Error).message}`) }
    }
    checkAlive()
    if (swarmSize > 0) {
      try { swarm = await swarmRotation(all.slice(0, swarmSize), 10, log) } catch (err) { failures.push(`swarm: ${(err as Error).message}`) }
    }
    checkAlive()
    log(`link process: ${JSON.stringify(await world.linkStats())}`)

    const last = results[results.length - 1]!
    const summary = {
      nodes: last.nodes,
      idle_cpu_pct_per_node: last.usage.cpuPct.median,
      idle_cpu_pct_max: last.usage.cpuPct.max,
      idle_cpu_top: last.usage.top,
      idle_window_s: idleS,
      idle_cpu_pct_max_slice: last.usage.sliceMaxPct,
      idle_slice_s: last.usage.sliceS,
      rss_top: last.usage.topRss,
      rss_mb_per_node: last.usage.rssMb.median,
      rss_mb_max: last.usage.rssMb.max,
      pss_mb_per_node: last.usage.pssMb?.median,
      pss_mb_max: last.usage.pssMb?.max,
      anon_mb_per_node: last.usage.anonMb?.median,
      anon_mb_max: last.usage.anonMb?.max,
      file_mb_per_node: last.usage.fileMb?.median,
      node_binary: nodeBinaryNote(),
      memory_reclaim: last.usage.reclaim ?? null,
      ...(abOn ? { ab_env: AB_ENV, ab: last.usage.ab } : {}),
      converge_ms: last.convergence.ms,
      settle_ms: last.settle?.ms ?? null,
      cpu_per_daemon_pct_per_phase: Object.fromEntries(last.phases.map(p => [p.phase, p.cpu.perDaemonPct])),
      machine_cpu_pct_per_phase: Object.fromEntries(last.phases.map(p => [p.phase, p.cpu.machinePct])),
      dht_lookup_p50_ms: last.dht.latency.p50,
      dht_lookup_p95_ms: last.dht.latency.p95,
      dht_lookup_p99_ms: last.dht.latency.p99,
      dht_lookup_success: last.dht.success,
      dht_first_answer_p50_ms: last.dht.breakdown.firstResponseMs.p50,
      dht_first_answer_p95_ms: last.dht.breakdown.firstResponseMs.p95,
      dht_ping_p50_ms: last.dht.breakdown.pingMs.p50,
      dht_ping_p95_ms: last.dht.breakdown.pingMs.p95,
      dht_first_query_p50_ms: last.dht.breakdown.firstQueryMs.p50,
      dht_first_query_p95_ms: last.dht.breakdown.firstQueryMs.p95,
      dht_paths: last.dht.paths,
      dht_ab: ab ?? null,
      gossip_all_p50_ms: last.gossip.allMs.p50,
      gossip_all_p95_ms: last.gossip.allMs.p95,
      gossip_all_max_ms: last.gossip.allMs.max,
      gossip_messages: last.gossip.messages,
      gossip_all_from_call_p50_ms: last.gossip.allFromCallMs.p50,
      gossip_all_from_call_p95_ms: last.gossip.allFromCallMs.p95,
      gossip_delivery: last.gossip.delivery,
      gossip_subscription_failures: last.gossip.subscriptionFailures.length,
      control_retries: world.nodes.reduce((sum, x) => sum + x.controlRetries.length, 0),
      bids_received: Math.min(...last.bids.rounds.map(r => r.received)),
      bids_expected: last.nodes - 1,
      bids_last_ms: Math.max(...last.bids.rounds.map(r => r.lastMs ?? 0)),
      bids_reached_min: Math.min(...last.bids.rounds.map(r => r.reached)),
      bids_delivered_after_retry: last.bids.rounds.reduce((sum, r) => sum + r.retried, 0),
      bids_failed: last.bids.rounds.reduce((sum, r) => sum + Object.values(r.failed).reduce((a, b) => a + b, 0), 0),
      bids_subscribed_ms: last.bids.subscribedMs,
      request_far_p50_ms: last.requests.latency.p50,
      request_far_p95_ms: last.requests.latency.p95,
      swarm_members: swarm?.members ?? 0,
      swarm_join_all_ms: swarm?.joinAllMs ?? null,
      swarm_rotate_all_ms: swarm?.rotateAllMs ?? null,
      swarm_lost: swarm?.lost ?? null,
      swarm_push_failed: swarm?.pushFailed.length ?? null,
      swarm_join_retries: swarm?.joinErrors.length ?? null,
      swarm_push_failed_recovered_max_ms: swarm == null || swarm.pushFailed.length === 0 ? null : swarm.pushFailed.some(f => f.ms == null) ? null : Math.max(...swarm.pushFailed.map(f => f.ms!)),
      swarm_acked: swarm?.acked ?? null,
      vpn_pairs_ok: vpn?.pairsOk ?? null,
      vpn_pairs: vpn?.pairs ?? null,
      vpn_pairs_ok_first_try: vpn?.pairsOkFirst ?? null,
      vpn_links_down_at_start: vpn?.linksDownAtStart ?? null,
      vpn_echo_answered: vpn?.echoAnswered ?? null,
      vpn_echo_sent: vpn?.echoSent ?? null,
      vpn_rtt_p50_ms: vpn?.rtt.p50 ?? null,
      vpn_rtt_p95_ms: vpn?.rtt.p95 ?? null,
      lean,
      connection_water: water ?? null,
      // the machine's 1-minute load average (2 cores) when the last size was measured, and per phase
      load_avg_1m: last.loadAvg1m,
      load_avg_per_phase: Object.fromEntries(last.phases.map(p => [p.phase, p.load1m])),
      failures,
      links: { sites, rtt_ms: [rttMin, rttMax], intra_rtt_ms: intraRtt, loss, rate_mbit: rateMbit, ping: pings?.pairs ?? [] },
      per_size: results
    }
    await mkdir(outDir, { recursive: true })
    await writeReport(outDir, results, summary, swarm, vpn, failures)
    log(`plots and tables written to ${outDir}/`)
    if (failures.length > 0) {
      for (const f of failures) log(`FAILED ${f}`)
      // what was measured, with the failure named (the exit status still says the run failed)
      writeJsonLine({ ...summary, error: failures.join('; ') })
      throw new Error(failures.join('; '))
    }
    writeJsonLine(summary)
  } finally {
    process.removeAllListeners('SIGINT')
    process.removeAllListeners('SIGTERM')
    log('stopping daemons and removing namespaces')
    await world.close()
    // the profiles are written as the daemons exit
    if (profileNodes.length > 0 && profiledPhases.length > 0) {
      const md = await sliceProfiles(resolve(outDir, 'prof'), profiledPhases)
      process.stderr.write(md + '\n')
    }
  }
}

main().then(() => { process.exit(0) }, (err) => { fail((err as Error).stack ?? String(err)) })


/**
 * Benchmark: what idle connected daemons cost. N real `dmsnet up` processes, connected to each
 * other and left alone, in each profile:
 *   public  - loopback, bootstrapped from the first node, all pairs connected
 *   lan     - `--profile lan` (mDNS) in a network namespace made for the run (multicast stays in it)
 *   swarm   - a private swarm (PSK): the first node creates it, the others join by invite
 *   vpn     - each daemon in its own namespace (joined by a bridge), the first starts a VPN with
 *             all others (root only)
 * Per node: CPU % of one core over the window, RSS at start / after warm-up / at the end, the
 * anonymous (private) part of RSS at the end (RSS also counts ~50 MB of the node binary's file
 * pages, shared by the profile's daemons: one copy of the binary, below) and the PSS (those shared pages divided among
 * the processes that map them; /proc/PID/smaps_rollup), open streams, DHT RPCs per second (sent +
 * answered), libp2p bytes per second (sent + received); and per profile the libp2p ping RTT
 * between two idle nodes after the window (20 pings).
 * Growth per hour, after warm-up only (start-up regrowth is not a leak): RSS, its anonymous part
 * and the V8 heap in use each saw-tooth with garbage collection and the idle reclaim by several MB,
 * which over a few minutes swamps a slope of a few MB per hour. So each is the Theil-Sen slope
 * (median of the pair slopes) through the per-bucket minima (the lowest sample of each
 * `--rss-bucket` (30) s), which follow the floor the sawtooth returns to, with Sen's 95 % interval
 * next to the RSS one (`rss_growth_ci95_mb_per_h`; bench/_lib/growth.ts). The least-squares slope
 * of the raw samples is reported beside it (`rss_growth_raw_mb_per_h`). `growth_method` in the
 * JSON says this in words. bench/idle-validate.ts checks the 3-minute figure against a long run
 * and against an injected leak (bench/_lib/leak-preload.mjs) from `--samples-out` files.
 * RSS and anon are sampled every `--sample` (5) s from /proc, heap in use every
 * `--heap-sample` (10) s from the daemon's /metrics (`nodejs_heap_size_used_bytes`; the scrape
 * costs the daemon a little CPU, inside the CPU figure), with V8's committed heap outside the young
 * generation and its code spaces (code, trusted): `v8_committed_growth_mb_per_h` and
 * `code_growth_mb_per_h` say how much of the anonymous growth is V8's older generations and code.
 * Warm-up (`warmup` in the JSON says it in words): the first `--warmup` seconds after every node is
 * connected and the profile set up. The daemon's idle reclaim (src/daemon/memory-reclaim.ts) runs
 * its first collection + malloc_trim once a node has been quiet 15 s, early in the warm-up, then
 * a plain major collection (a tidy) every minute while quiet; `reclaims` and `tidies` per node
 * (and `reclaims_min/max`, `tidies_max`) say how many ran by the end, and
 * `--ab-env "DMSNET_MEMORY_RECLAIM_ENABLED=false"` is the A/B without it.
 * `DMSNET_BENCH_CLI=<path to dist/src/cli/main.js>` runs another build (a before/after).
 *
 * Usage: npm run bench -- idle [--nodes 3] [--duration 180] [--warmup 600] [--sample 5] [--sequential]
 *        [--rss-bucket 30] [--profile public,lan,swarm,vpn] [--cpu-prof <dir>]
 *        [--connect mesh|bootstrap] [--mesh-parallel 1] [--ab-flags "<node flags for the odd daemons>"]
 *        [--ab-env "KEY=value ... (env, e.g. DMSNET_* config, for the odd daemons)"] [--heap-sample 10]
 *        [--ab-cli <another build's dist/src/cli/main.js or bundle, for the odd daemons>]
 *        [--samples-out <file: every node's RSS samples, warm-up included, a JSON line per profile>]
 *        [--private-node (each daemon on its own copy of the node binary: file pages as on a host of its own)]
 * Progress on stderr. stdout: one JSON line per profile, and with several profiles a last summary
 * line (`profile: "all"`, the max over profiles and a `profiles` object). Targets (issue 10):
 * <= 1 % of a core per node and RSS growth <= 5 MB/h.
 */
import { BenchDaemon, metricSum, slope, type ProcSample } from './_lib/daemons.js'
import { floorGrowth } from './_lib/growth.js'
import { coldNodeCopy, type ColdNode } from './_lib/node-binary.js'
import { appendFileSync } from 'node:fs'
import { numArg, progress, writeJsonLine } from './_lib/process.js'
import { median, round } from './_lib/stats.js'
import { createBridge } from '../src/netdev/bridge.js'
import { netnsFixture, type NetnsFixture } from '../test/helpers/netns.js'

const log = progress('idle')
const NODES = numArg('nodes', 3)
const DURATION_S = numArg('duration', 180)
/**
 * Why 600 s (stop 30): after the first idle reclaim (~20 s after start: start-up's garbage, code
 * and file pages given back), a daemon takes back what its timers use, and V8 tiers their code up
 * (JIT code pages and V8 pages in /proc/PID/smaps): RSS rose 0.6, 0.35, 0.13, 0.07 MB in successive
 * 2-minute spans from minute 2, so a window starting at 1 minute read that as 12-25 MB/h of growth
 * and one starting at 10 minutes reads what stays (docs/network.md "Idle cost (bench/idle.ts)").
 */
const WARMUP_S = numArg('warmup', 600, true)
const SAMPLE_S = numArg('sample', 5)
const ALL_PROFILES = ['public', 'lan', 'swarm', 'vpn'] as const
type Profile = typeof ALL_PROFILES[number]

function strArg (name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const isRoot = process.getuid?.() === 0
const cpuProfDir = strArg('cpu-prof')
/**
 * `mesh` (default): every pair connected by hand. `bootstrap`: public profile only; nodes bootstrap
 * from the first three and find the rest themselves (DHT, connection keeper), as in a real
 * network: the way to look at 15-25 idle daemons with ~15 connections each on one machine.
 */
const CONNECT = strArg('connect') ?? 'mesh'
if (CONNECT !== 'mesh' && CONNECT !== 'bootstrap') {
  console.error(`--connect: mesh or bootstrap, not "${CONNECT}"`)
  process.exit(2)
}
const requested = (strArg('profile') ?? ALL_PROFILES.join(',')).split(',').map(s => s.trim()).filter(s => s !== '')
for (const p of requested) {
  if (!(ALL_PROFILES as readonly string[]).includes(p)) {
    console.error(`unknown profile "${p}" (one of ${ALL_PROFILES.join(', ')})`)
    process.exit(2)
  }
}
const profiles = requested.filter(p => {
  if ((p === 'vpn' || p === 'lan') && !isRoot) {
    log(`SKIPPING profile ${p}: needs root (network namespaces${p === 'vpn' ? ', TUN' : ''})`)
    return false
  }
  return true
}) as Profile[]

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function waitUntil (what: string, fn: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await fn().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`)
    await sleep(250)
  }
}

/** A daemon's /metrics, tried 3 times: on a loaded machine one scrape may miss its 10 s bound. */
async function metricsOf (d: BenchDaemon): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await d.metrics()
    } catch (err) {
      if (i >= 2) throw err
    }
  }
}

const peersOf = async (d: BenchDaemon): Promise<number> => metricSum(await metricsOf(d), 'dmsnet_peers_connected')

/**
 * `--mesh-parallel N` (1): the full mesh's `dmsnet connect` calls run N at a time. One at a time, a
 * 40-node mesh (780 pairs, a CLI process each) takes ~10 minutes to set up on the 2-core machine.
 */
const MESH_PARALLEL = numArg('mesh-parallel', 1)

/** Every daemon connected to every other (dials the missing pairs by address when given). */
async function fullMesh (nodes: BenchDaemon[], addrOf: (d: BenchDaemon) => string | undefined): Promise<void> {
  const pairs: Array<[BenchDaemon, BenchDaemon]> = []
  for (const [i, a] of nodes.entries()) for (const b of nodes.slice(i + 1)) pairs.push([a, b])
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < pairs.length) {
      const [a, b] = pairs[next++]!
      await b.cli(['connect', addrOf(a) ?? a.peerId]).catch((err: Error) => { log(`connect ${b.name} -> ${a.name}: ${err.message}`) })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, MESH_PARALLEL) }, worker))
  await waitUntil('a full mesh of connections', async () => (await Promise.all(nodes.map(peersOf))).every(n => n >= nodes.length - 1))
}

/** `--connect bootstrap`: up to 120 s for every node to have a peer; says how far they got either way. */
async function softWaitConnected (nodes: BenchDaemon[]): Promise<void> {
  const end = Date.now() + 120_000
  let counts: number[] = []
  while (Date.now() < end) {
    counts = await Promise.all(nodes.map(async d => await peersOf(d).catch(() => -1)))
    if (counts.every(n => n >= 1)) break
    await sleep(2000)
  }
  log(`connections per node (-1 = no metrics): ${counts.join(' ')}`)
}

/** `vpnPing`: 3 pings over the VPN from the second node's namespace to the first node (throws when they fail). */
interface World { nodes: BenchDaemon[], cleanup: () => Promise<void>, vpnPing?: () => Promise<void> }

async function vpnPingOf (nodes: BenchDaemon[], net: NetnsFixture): Promise<void> {
  const target = (JSON.parse(await nodes[0]!.cli(['vpn', 'status', '--json'])) as { ipv4?: string }).ipv4
  if (target == null) throw new Error(`${nodes[0]!.name} has no VPN address`)
  const out = await net.exec(nodes[1]!.netns!, 'ping', ['-c', '3', '-W', '2', target])
  // the first after an idle spell pays for code paths the idle reclaim released (file pages)
  log(`VPN ping ${nodes[1]!.name} -> ${nodes[0]!.name}: ${[...out.matchAll(/time=([\d.]+) ms/g)].map(m => m[1]).join(' ')} ms`)
}


/**
 * `--ab-flags "<node flags>"`: the odd-numbered daemons run with these `node` flags (e.g.
 * `--max-semi-space-size=1`), the even ones without; the JSON compares the two halves (`ab`),
 * measured side by side under the same machine load.
 */
const AB_FLAGS = (strArg('ab-flags') ?? '').split(' ').filter(f => f !== '')
/** `--ab-env "KEY=value ..."`: environment for the odd daemons (a config A/B through DMSNET_* variables). */
const AB_ENV: Record<string, string> = Object.fromEntries((strArg('ab-env') ?? '').split(' ').filter(f => f.includes('=')).map(f => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]))
const abEnv = (i: number): Record<string, string> => i % 2 === 1 ? AB_ENV : {}
/** `--ab-cli <path to a CLI entry>`: the odd daemons run this build (e.g. a bundle) instead. */
const AB_CLI = strArg('ab-cli')
const abCli = (i: number, profile: Profile): { cli?: string, execPath?: string } => ({ ...(i % 2 === 1 && AB_CLI != null ? { cli: AB_CLI } : {}), execPath: nodeBinary(i, profile) })

/**
 * `--private-node`: each daemon runs its own copy of the node binary, so its ~50 MB of the binary's
 * file pages are mapped by no other process, as on a host of its own (the real deployment): RSS,
 * PSS and what `memory.reclaim.filePages=pageout` frees then mean what they would there. Without
 * it the daemons of a profile share one copy's pages. Either way each profile's copies start cold
 * in the page cache (bench/_lib/node-binary.ts: otherwise RSS depends on what read the binary
 * before, an earlier profile of a `--sequential` run included).
 */
const PRIVATE_NODE = process.argv.includes('--private-node')
/** `--sequential`: one profile after another; by default they run side by side (12 idle daemons are light; 4 x 13 minutes is not). */
const SEQUENTIAL = process.argv.includes('--sequential')
const nodeCopies = new Map<string, ColdNode>()
process.on('exit', () => { for (const c of nodeCopies.values()) c.remove() })
function nodeBinary (i: number, profile: Profile): string {
  const key = PRIVATE_NODE ? `node-${profile}-${i}` : `node-${profile}`
  let copy = nodeCopies.get(key)
  if (copy == null) {
    copy = coldNodeCopy(key)
    if (!copy.dropped) log(`${key}: the copy's page cache could not be dropped (dd iflag=nocache): file-page RSS may read high`)
    nodeCopies.set(key, copy)
  }
  return copy.path
}
const AB = AB_FLAGS.length > 0 || Object.keys(AB_ENV).length > 0 || AB_CLI != null

function daemonArgs (i: number): string[] {
  const ab = i % 2 === 1 ? AB_FLAGS : []
  return [...ab, ...(cpuProfDir != null ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=idle-${i}-\${pid}.cpuprofile`] : [])]
}

async function startAll (specs: Array<ConstructorParameters<typeof BenchDaemon>[0]>, nodes: BenchDaemon[]): Promise<void> {
  // the first starts alone (the others bootstrap from it)
  for (const spec of specs) {
    const d = new BenchDaemon(spec)
    nodes.push(d)
    if (nodes.length === 1) {
      await d.start()
      continue
    }
    const boot = CONNECT === 'bootstrap' ? nodes.slice(0, Math.min(3, nodes.length - 1)) : nodes.slice(0, 1)
    for (const b of boot) spec.args.push('--bootstrap', b.listen)
    await d.start()
  }
}

async function setUp (profile: Profile): Promise<World> {
  const nodes: BenchDaemon[] = []
  let net: NetnsFixture | undefined
  const cleanup = async (): Promise<void> => {
    await Promise.allSettled(nodes.map(async d => { await d.stop() }))
    await net?.cleanup()
  }
  try {
    const names = Array.from({ length: NODES }, (_, i) => `n${i}`)
    if (profile === 'public' || profile === 'swarm') {
      await startAll(names.map((name, i) => ({ name, args: ['--listen', '/ip4/127.0.0.1/tcp/0'], nodeArgs: daemonArgs(i), env: abEnv(i), ...abCli(i, profile) })), nodes)
      if (CONNECT === 'mesh' || profile === 'swarm') await fullMesh(nodes, d => d.listen)
      else await softWaitConnected(nodes)
    }
    if (profile === 'lan') {
      net = netnsFixture(undefined, 'di')
      const ns = await net.namespace('lan')
      // multicast (mDNS) only over the namespace's loopback: nothing leaves it
      await net.exec(ns, 'ip', ['link', 'set', 'lo', 'multicast', 'on'])
      await net.exec(ns, 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'lo'])
      for (const [i, name] of names.entries()) {
        const d = new BenchDaemon({ name, netns: ns, args: ['--profile', 'lan', '--listen', '/ip4/127.0.0.1/tcp/0'], nodeArgs: daemonArgs(i), env: abEnv(i), ...abCli(i, profile) })
        nodes.push(d)
        await d.start()
      }
      // mDNS alone must connect them (no bootstrap, no dial by hand)
      await waitUntil('mDNS to connect every pair', async () => (await Promise.all(nodes.map(peersOf))).every(n => n >= NODES - 1), 60_000)
    }
    if (profile === 'swarm') {
      const creator = nodes[0]!
      await creator.cli(['swarm', 'create', 'idlebench'])
      for (const m of nodes.slice(1)) {
        const token = /dmsnet-swarm:\S+/.exec(await creator.cli(['swarm', 'invite', '--ttl', '600']))?.[0]
        if (token == null) throw new Error('swarm invite printed no token')
        await m.cli(['swarm', 'join', token])
      }
      await waitUntil('every member in the swarm and connected', async () => {
        for (const d of nodes) {
          const s = JSON.parse(await d.cli(['swarm', 'status', '--json'])) as { joined?: boolean }
          if (s.joined !== true) return false
        }
        return (await Promise.all(nodes.map(peersOf))).every(n => n >= 1)
      })
      await fullMesh(nodes, () => undefined)
    }
    if (profile === 'vpn') {
      net = netnsFixture(undefined, 'di')
      const hub = await net.namespace('hub')
      const br = net.ifname('br')
      await createBridge({ name: br, netns: hub })
      const subnet = 10 + (process.pid % 200)
      const specs = []
      for (const [i, name] of names.entries()) {
        const ns = await net.namespace(name)
        const ip = `10.${subnet}.1.${i + 1}`
        const { b } = await net.link(ns, `${ip}/24`, hub, undefined)
        await net.exec(hub, 'ip', ['link', 'set', b, 'master', br])
        // the namespaces are the run's own: any authority may invite (only the first will)
        specs.push({ name, netns: ns, args: ['--listen', `/ip4/${ip}/tcp/4001`], env: { DMSNET_VPN_ACCEPT_INVITES_FROM: '*', ...abEnv(i) }, nodeArgs: daemonArgs(i), ...abCli(i, profile) })
      }
      await startAll(specs, nodes)
      await fullMesh(nodes, d => d.listen)
      await nodes[0]!.cli(['vpn', 'up', ...nodes.slice(1).map(d => d.peerId)], 120_000)
      await waitUntil('the VPN up on every node', async () => {
        for (const d of nodes) {
          const s = JSON.parse(await d.cli(['vpn', 'status', '--json'])) as { state?: string }
          if (s.state !== 'running') return false
        }
        return true
      }, 120_000)
      // prove the tunnel carries traffic before leaving it idle
      await vpnPingOf(nodes, net)
      const fixture = net
      return { nodes, cleanup, vpnPing: async () => { await vpnPingOf(nodes, fixture) } }
    }
    return { nodes, cleanup }
  } catch (err) {
    await cleanup()
    throw err
  }
}

interface NodeResult {
  name: string
  peers: number
  cpu_pct: number
  rss_start_mb: number
  rss_warm_mb: number
  rss_end_mb: number
  rss_growth_mb_per_h: number
  rss_growth_raw_mb_per_h: number
  /** Sen's 95 % interval of rss_growth_mb_per_h ([null, null]: too few buckets) */
  rss_growth_ci95_mb_per_h: [number | null, number | null]
  rss_anon_end_mb: number
  /** file-backed part of RSS at the end (node binary, libraries: shared, clean) */
  rss_file_end_mb: number
  /** proportional set size at the end: shared file pages divided among the processes mapping them */
  pss_end_mb: number
  rss_anon_growth_mb_per_h: number
  heap_growth_mb_per_h: number
  /** V8's committed heap outside the young generation: its growth, and of it the code spaces' (code, trusted) */
  v8_committed_growth_mb_per_h: number
  code_growth_mb_per_h: number
  v8_committed_end_mb: number
  open_streams: number
  /** V8 heap in use at the end (the rest of RSS is free heap V8 keeps, code, buffers, native). */
  heap_used_mb: number
  dht_rpcs_per_s: number
  bytes_per_s: number | null
  /** idle memory reclaims the daemon ran (src/daemon/memory-reclaim.ts), before and in the window */
  reclaims: number
  reclaimed_mb: number
  /** file-backed RSS the reclaims released (memory.reclaim.filePages), MB */
  file_released_mb: number
  /** wall time those reclaims held the event loop, ms */
  reclaim_ms: number
  /** plain major collections between reclaims (memory.reclaim.tidyIntervalMs), before and in the window */
  tidies: number
}

/** Seconds per bucket whose lowest RSS enters the growth slope. */
const RSS_BUCKET_S = numArg('rss-bucket', 30)

/** Growth of the floor (bench/_lib/growth.ts): Theil-Sen through each bucket's lowest sample, MB/h, with Sen's 95 % interval. */
function growthPerHour<T extends { at: number }> (samples: T[], value: (x: T) => number): { slope: number, lo: number, hi: number } {
  return floorGrowth(samples.map(x => ({ x: x.at / 3_600_000, y: value(x) })), RSS_BUCKET_S / 3600)
}

/** How the growth figures are made, in words (`growth_method` in the JSON). */
const GROWTH_METHOD = `rss_growth_mb_per_h: Theil-Sen slope (median of pair slopes) through the lowest RSS sample of each ${RSS_BUCKET_S}-s bucket ` +
  '(the floor the GC/reclaim sawtooth returns to), rss_growth_ci95_mb_per_h its Sen 95 % interval; rss_growth_raw_mb_per_h: least squares over every sample ' +
  '(the sawtooth dominates it). Validated (bench/idle-validate.ts, docs/network.md "Idle cost"): over 3 minutes the estimate centres on the truth ' +
  '(median error 6-44 MB/h) but its interval held the long-run figure in only 59-100 % of slices without a leak (two runs) and a 60 MB/h leak was significant in 0-12 %: ' +
  'a 3-minute figure catches a runaway, not <= 5 MB/h; use --duration 660 or more for that'

/** What the JSON's growth figures leave out as warm-up, in words (`warmup` in the JSON). */
const WARMUP_NOTE = `the first ${WARMUP_S} s after every node is connected (and the profile's set-up: swarm joined, VPN up) are warm-up; ` +
  `the growth figures are the slopes over the next ${DURATION_S} s, RSS and anon from the lowest sample of each ${RSS_BUCKET_S}-s bucket`

/** `--samples-out <file>`: every node's RSS samples, warm-up included, appended as one JSON line per profile. */
const SAMPLES_OUT = strArg('samples-out')

const HEAP_SAMPLE_S = numArg('heap-sample', 10)
interface HeapSample { at: number, heapMb: number, newMb?: number, oldMb?: number, v8Mb?: number, codeMb?: number }
/**
 * One heap sample from a /metrics text: in use, and committed per space. `v8Mb` is V8's heap
 * outside the young generation (the young generation's committed size is the capacity V8 reserved
 * for it, up to 16 MB per semi-space and mostly untouched, so it is left out; the other spaces'
 * pages are committed whole); `codeMb` the spaces that grow with code (machine code, and the
 * trusted space's bytecode and metadata).
 */
const heapSample = (t: string): HeapSample => ({
  at: Date.now(),
  heapMb: heapUsedMb(t),
  newMb: spaceMb(t, 'new'),
  oldMb: spaceMb(t, 'old'),
  v8Mb: metricSum(t, 'nodejs_heap_size_total_bytes') / 1024 / 1024 - spaceMb(t, 'new') - spaceMb(t, 'new_large_object'),
  codeMb: spaceMb(t, 'code') + spaceMb(t, 'code_large_object') + spaceMb(t, 'trusted') + spaceMb(t, 'trusted_large_object')
})
/** Committed size of one V8 heap space (new, old, code...), MB. */
const spaceMb = (text: string, space: string): number => metricSum(text, 'nodejs_heap_space_size_total_bytes', l => l.includes(`space="${space}"`)) / 1024 / 1024
const heapUsedMb = (text: string): number => metricSum(text, 'nodejs_heap_size_used_bytes') / 1024 / 1024

const dhtRpcs = (text: string): number => metricSum(text, 'libp2p_kad_dht_inbound_rpc_requests_total') + metricSum(text, 'libp2p_kad_dht_outbound_rpc_requests_total')
const bytes = (text: string): number => metricSum(text, 'libp2p_data_transfer_bytes_total', l => l.includes('global'))

/** Medians of the even (plain) and odd (`--ab-flags`) daemons. */
function abSummary (results: NodeResult[]): Record<string, unknown> {
  const half = (odd: boolean): Record<string, number> => {
    const rs = results.filter((_, i) => (i % 2 === 1) === odd)
    return {
      cpu_pct_median: round(median(rs.map(r => r.cpu_pct)), 2),
      rss_mb_median: round(median(rs.map(r => r.rss_end_mb))),
      rss_mb_max: round(Math.max(...rs.map(r => r.rss_end_mb))),
      rss_growth_mb_per_h_median: round(median(rs.map(r => r.rss_growth_mb_per_h)), 1),
      rss_growth_mb_per_h_max: round(Math.max(...rs.map(r => r.rss_growth_mb_per_h)), 1),
      reclaims_median: median(rs.map(r => r.reclaims)),
      reclaim_ms_median: round(median(rs.map(r => r.reclaim_ms))),
      file_released_mb_median: round(median(rs.map(r => r.file_released_mb))),
      rss_anon_mb_median: round(median(rs.map(r => r.rss_anon_end_mb))),
      rss_file_mb_median: round(median(rs.map(r => r.rss_file_end_mb))),
      pss_mb_median: round(median(rs.map(r => r.pss_end_mb))),
      peers_median: median(rs.map(r => r.peers)),
      heap_used_mb_median: round(median(rs.map(r => r.heap_used_mb)))
    }
  }
  return { flags: AB_FLAGS.join(' '), env: AB_ENV, cli: AB_CLI, plain: half(false), flagged: half(true) }
}

/**
 * RSS from /proc every `--sample` s and the heap from /metrics every `--heap-sample` s, until
 * `until`. The scrape runs in the warm-up too (stop 30): its first ones, at the window's start,
 * grew every daemon's RSS by 0.4-0.5 MB (prom-client's text, the HTTP path and their JIT code),
 * which the window read as 9-19 MB/h; an operator's Prometheus scrapes all the time.
 */
async function sampleUntil (nodes: BenchDaemon[], until: number, proc: ProcSample[][], heap: HeapSample[][]): Promise<void> {
  let nextHeap = Date.now() + HEAP_SAMPLE_S * 1000
  while (Date.now() < until) {
    await sleep(Math.min(SAMPLE_S * 1000, Math.max(0, until - Date.now())))
    for (const [i, d] of nodes.entries()) proc[i]!.push(d.sample())
    if (Date.now() >= nextHeap) {
      nextHeap += HEAP_SAMPLE_S * 1000
      await Promise.all(nodes.map(async (d, i) => {
        // a missed scrape is a missing point, not a failure of the run
        const t = await metricsOf(d).catch(() => undefined)
        if (t != null) heap[i]!.push(heapSample(t))
      }))
    }
  }
}

async function measure (profile: Profile): Promise<Record<string, unknown>> {
  log(`${profile}: starting ${NODES} daemons`)
  const world = await setUp(profile)
  try {
    const { nodes } = world
    const startRss = nodes.map(d => d.sample().rssMb)
    log(`${profile}: connected; warm-up ${WARMUP_S} s`)
    // sampled too, for --samples-out only (the figures start after it)
    const warm: ProcSample[][] = nodes.map(d => [d.sample()])
    const warmHeap: HeapSample[][] = nodes.map(() => [])
    await sampleUntil(nodes, Date.now() + WARMUP_S * 1000, warm, warmHeap)
    const m0 = await Promise.all(nodes.map(async d => await metricsOf(d)))
    const samples: ProcSample[][] = nodes.map(d => [d.sample()])
    const heap: HeapSample[][] = m0.map(t => [heapSample(t)])
    log(`${profile}: measuring ${DURATION_S} s`)
    await sampleUntil(nodes, Date.now() + DURATION_S * 1000, samples, heap)
    const m1 = await Promise.all(nodes.map(async d => await metricsOf(d)))
    // what an idle node's load does to latency: libp2p ping between two of them, after the window
    const ping = JSON.parse(await nodes[1]!.cli(['ping', nodes[0]!.peerId, '-c', '20', '-i', '100', '--json'])) as { rtts: number[] }
    // the idle reclaims (file pages released too, with memory.reclaim.filePages) ran in the window: the tunnel must still carry traffic
    await world.vpnPing?.()
    const results: NodeResult[] = nodes.map((d, i) => {
      const s = samples[i]!
      const first = s[0]!
      const last = s[s.length - 1]!
      const secs = (last.at - first.at) / 1000
      const g = growthPerHour(s, x => x.rssMb)
      return {
        name: d.name,
        peers: metricSum(m1[i]!, 'dmsnet_peers_connected'),
        cpu_pct: round(100 * (last.cpuS - first.cpuS) / secs, 2),
        rss_start_mb: round(startRss[i]!),
        rss_warm_mb: round(first.rssMb),
        rss_end_mb: round(last.rssMb),
        rss_growth_mb_per_h: round(g.slope, 1),
        rss_growth_raw_mb_per_h: round(slope(s.map(x => x.at / 3_600_000), s.map(x => x.rssMb)), 1),
        rss_growth_ci95_mb_per_h: [Number.isFinite(g.lo) ? round(g.lo, 1) : null, Number.isFinite(g.hi) ? round(g.hi, 1) : null],
        rss_anon_end_mb: round(last.anonMb),
        rss_file_end_mb: round(last.fileMb),
        pss_end_mb: round(last.pssMb),
        rss_anon_growth_mb_per_h: round(growthPerHour(s, x => x.anonMb).slope, 1),
        heap_growth_mb_per_h: round(growthPerHour(heap[i]!, x => x.heapMb).slope, 1),
        v8_committed_growth_mb_per_h: round(growthPerHour(heap[i]!, x => x.v8Mb ?? NaN).slope, 1),
        code_growth_mb_per_h: round(growthPerHour(heap[i]!, x => x.codeMb ?? NaN).slope, 1),
        v8_committed_end_mb: round(heap[i]!.at(-1)?.v8Mb ?? NaN),
        open_streams: metricSum(m1[i]!, 'libp2p_protocol_streams_total'),
        heap_used_mb: round(metricSum(m1[i]!, 'nodejs_heap_size_used_bytes') / 1024 / 1024),
        dht_rpcs_per_s: round((dhtRpcs(m1[i]!) - dhtRpcs(m0[i]!)) / secs, 3),
        // libp2p's byte counters freeze after a host switch (the swarm profile: the metric group
        // stays bound to the first host), so "no bytes while RPCs went" means unknown, not zero
        bytes_per_s: bytes(m1[i]!) === bytes(m0[i]!) && dhtRpcs(m1[i]!) > dhtRpcs(m0[i]!) ? null : round((bytes(m1[i]!) - bytes(m0[i]!)) / secs, 0),
        reclaims: metricSum(m1[i]!, 'dmsnet_memory_reclaims_total'),
        reclaimed_mb: round(metricSum(m1[i]!, 'dmsnet_memory_reclaimed_bytes_total') / 1024 / 1024),
        reclaim_ms: round(metricSum(m1[i]!, 'dmsnet_memory_reclaim_seconds_total') * 1000),
        tidies: metricSum(m1[i]!, 'dmsnet_memory_tidies_total'),
        file_released_mb: round(metricSum(m1[i]!, 'dmsnet_memory_file_pages_released_bytes_total') / 1024 / 1024)
      }
    })
    for (const r of results) log(`${profile} ${r.name}: ${JSON.stringify(r)}`)
    if (SAMPLES_OUT != null) {
      const t0 = warm[0]![0]!.at
      const trace = nodes.map((d, i) => ({ name: d.name, reclaims: results[i]!.reclaims, samples: [...warm[i]!, ...samples[i]!].map(x => [round((x.at - t0) / 1000, 1), round(x.rssMb, 2), round(x.anonMb, 2), round(x.fileMb, 2)]), heap: [...warmHeap[i]!, ...heap[i]!].map(x => [round((x.at - t0) / 1000, 1), round(x.heapMb, 1), round(x.newMb ?? NaN, 1), round(x.oldMb ?? NaN, 1), round(x.v8Mb ?? NaN, 2), round(x.codeMb ?? NaN, 2)]) }))
      appendFileSync(SAMPLES_OUT, JSON.stringify({ profile, warmup_s: WARMUP_S, columns: ['s since connected', 'rss MB', 'anon MB', 'file MB'], heap_columns: ['s', 'heap used MB', 'new space committed MB', 'old space committed MB', 'V8 committed outside the young generation MB', 'code + trusted committed MB'], nodes: trace }) + '\n')
    }
    const lost = results.filter(r => r.peers < 1)
    if (lost.length > 0) throw new Error(`${profile}: ${lost.map(r => r.name).join(', ')} lost every connection during the run`)
    const max = (k: keyof NodeResult): number | null => {
      const xs = results.map(r => r[k]).filter((x): x is number => typeof x === 'number')
      return xs.length > 0 ? Math.max(...xs) : null
    }
    return {
      profile,
      nodes: NODES,
      duration_s: DURATION_S,
      warmup_s: WARMUP_S,
      warmup: WARMUP_NOTE,
      idle_cpu_pct_max: max('cpu_pct'),
      idle_cpu_pct_median: round(median(results.map(r => r.cpu_pct)), 2),
      rss_growth_mb_per_h_max: max('rss_growth_mb_per_h'),
      // the upper end of the widest interval: a growth above it would have been seen
      rss_growth_ci95_hi_mb_per_h_max: Math.max(...results.map(r => r.rss_growth_ci95_mb_per_h[1] ?? NaN)),
      rss_growth_raw_mb_per_h_max: max('rss_growth_raw_mb_per_h'),
      growth_method: GROWTH_METHOD,
      rss_mb_max: max('rss_end_mb'),
      rss_anon_mb_max: max('rss_anon_end_mb'),
      // RSS counts the node binary's shared file pages in full in every daemon; PSS divides them
      // among the processes that map them, and the anonymous part is each daemon's own
      pss_mb_max: max('pss_end_mb'),
      pss_mb_median: round(median(results.map(r => r.pss_end_mb))),
      anon_mb_max: max('rss_anon_end_mb'),
      anon_mb_median: round(median(results.map(r => r.rss_anon_end_mb))),
      file_mb_max: max('rss_file_end_mb'),
      file_mb_median: round(median(results.map(r => r.rss_file_end_mb))),
      rss_anon_growth_mb_per_h_max: max('rss_anon_growth_mb_per_h'),
      heap_growth_mb_per_h_max: max('heap_growth_mb_per_h'),
      v8_committed_growth_mb_per_h_max: max('v8_committed_growth_mb_per_h'),
      code_growth_mb_per_h_max: max('code_growth_mb_per_h'),
      dht_rpcs_per_s_max: max('dht_rpcs_per_s'),
      bytes_per_s_max: max('bytes_per_s'),
      open_streams_max: max('open_streams'),
      heap_used_mb_max: max('heap_used_mb'),
      reclaims_min: Math.min(...results.map(r => r.reclaims)),
      reclaims_max: max('reclaims'),
      tidies_max: max('tidies'),
      connect: CONNECT,
      private_node: PRIVATE_NODE,
      peers_min: Math.min(...results.map(r => r.peers)),
      peers_median: median(results.map(r => r.peers)),
      rss_mb_median: round(median(results.map(r => r.rss_end_mb))),
      ab: AB ? abSummary(results) : undefined,
      ping_rtt_ms_median: round(median(ping.rtts), 2),
      ping_rtt_ms_max: round(Math.max(...ping.rtts), 2),
      per_node: results
    }
  } finally {
    await world.cleanup()
  }
}

async function main (): Promise<void> {
  if (profiles.length === 0) throw new Error('no profile to run')
  const out: Record<string, Record<string, unknown>> = {}
  if (SEQUENTIAL) {
    for (const p of profiles) {
      out[p] = await measure(p)
      writeJsonLine(out[p])
    }
  } else {
    // every profile's failure is reported, not only the first one's
    const settled = await Promise.allSettled(profiles.map(async p => {
      out[p] = await measure(p)
      writeJsonLine(out[p])
    }))
    const failed = settled.flatMap((r, i) => r.status === 'rejected' ? [`${profiles[i]}: ${(r.reason as Error).message}`] : [])
    if (failed.length > 0) throw new Error(`profiles failed: ${failed.join('; ')}`)
  }
  if (profiles.length > 1) {
    const all = Object.values(out)
    const max = (k: string): number | null => {
      const xs = all.map(r => r[k]).filter((x): x is number => typeof x === 'number')
      return xs.length > 0 ? Math.max(...xs) : null
    }
    const profilesSummary = Object.fromEntries(Object.entries(out).map(([k, v]) => {
      const { per_node: _perNode, ...rest } = v
      return [k, rest]
    }))
    writeJsonLine({
      profile: 'all',
      nodes: NODES,
      duration_s: DURATION_S,
      warmup_s: WARMUP_S,
      warmup: WARMUP_NOTE,
      idle_cpu_pct_max: max('idle_cpu_pct_max'),
      rss_growth_mb_per_h_max: max('rss_growth_mb_per_h_max'),
      rss_growth_ci95_hi_mb_per_h_max: max('rss_growth_ci95_hi_mb_per_h_max'),
      rss_mb_max: max('rss_mb_max'),
      rss_anon_mb_max: max('rss_anon_mb_max'),
      pss_mb_max: max('pss_mb_max'),
      anon_mb_max: max('anon_mb_max'),
      file_mb_max: max('file_mb_max'),
      heap_growth_mb_per_h_max: max('heap_growth_mb_per_h_max'),
      dht_rpcs_per_s_max: max('dht_rpcs_per_s_max'),
      bytes_per_s_max: max('bytes_per_s_max'),
      ping_rtt_ms_median_max: max('ping_rtt_ms_median'),
      profiles: profilesSummary
    })
  }
}

main().then(() => { process.exit(0) }, (err: Error) => {
  console.error(`idle bench failed: ${err.stack ?? err.message}`)
  process.exit(1)
})

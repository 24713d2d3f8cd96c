/**
 * Benchmark: the VPN between two network namespaces, next to the bare veth and a bare libp2p
 * stream between the same two node processes, all in one run.
 *
 * - vpn_tcp_gbps / veth_tcp_gbps: iperf3 TCP, one flow, `--secs` seconds, median of `--runs`.
 * - vpn_udp_gbps / veth_udp_gbps: iperf3 UDP, `--udp-len` (1392)-byte datagrams, offered `--udp-rate` (5G), received rate.
 * - stream_gbps: `--secs` seconds on a bare libp2p stream between the two vpn-node processes (the
 *   ceiling), measured next to VPN TCP in each run (the order alternates between runs).
 * - vpn_udp_loss_pct_500m / veth_udp_loss_pct_500m: iperf3 UDP at 500 Mbit/s offered: loss in percent.
 * - vpn_udp_loss_pct_500m_w2m / veth_udp_loss_pct_500m_w2m: the same with iperf3 -w 2M (both ends'
 *   socket buffers 2 MiB instead of the ~208 KiB default): what the receiver's buffer alone changes.
 * - *_per_run: { min, median, max } of each run's own ratio (VPN TCP / stream, VPN UDP / veth UDP,
 *   VPN RTT / stream RTT): the machine's speed drifts between runs, less so within one.
 * - phases: hygiene of the run (see bench/_lib/vpn-phase.ts): before every phase both nodes are idle
 *   with empty TUN and link queues; major GCs and GC pause per phase, the largest heap in use and
 *   ArrayBuffer bytes of either node at each phase's end, settle time, phases that did not settle,
 *   the load average at each phase's start.
 * - vpn_udp_500m_lost_at: where the VPN's 500 Mbit/s datagrams were lost, summed over runs:
 *   `rcvbuf` (the receiving socket's buffer was full: Udp RcvbufErrors in B), `tunTx` (A's TUN
 *   queue overflowed before the node read it), `linkQueue` (A's per-peer queue was full),
 *   `tunWrite` (B's TUN write queue was full); vpn_udp_500m_w2m_lost_at: the same for the -w 2M runs.
 * - udp_rcvbuf_per_run: per run, every UDP phase's drops at B's receiving socket (Udp RcvbufErrors),
 *   veth and VPN side by side: { rcvbuf, sent (iperf3's datagrams), pct }; udp_rcvbuf_pct_median: their medians.
 * - vpn_rtt_ms / veth_rtt_ms: median ping RTT (40 pings, 50 ms apart).
 * - vpn_tcp_cpu_s_per_gb / vpn_udp_cpu_s_per_gb / stream_cpu_s_per_gb: CPU seconds of both node processes per GB.
 * - vpn_udp_cpu_s_per_gb_carried: the same per GB the VPN carried (read from A's TUN) in the `--udp-rate` runs;
 *   vpn_udp_rcvbuf_drop_pct: the share of those datagrams that B's kernel then dropped at the receiving
 *   iperf3's full socket buffer (Udp RcvbufErrors): the nodes' work that the application never got.
 * - tun: per node, bytes per packet and packets per batch the TUN saw, coalescing counters, the
 *   receiver's yields and its waits for room in the receiving socket (txRoomWaits, txRoomWaitUs, txRoomGaveUp).
 * - per_run: per run and phase, the growth of each node's counters (GC pause, CPU and runnable ms, TUN read pauses, yields,
 *   room waits, tunnel-stream send stalls, link-queue drops; B's Udp RcvbufErrors, A's TUN kernel drops): bench/_lib/vpn-phase.ts.
 * - stream_rtt_ms: median round trip of 64 bytes on one open bare libp2p stream (40, 50 ms apart).
 * Any measurement that fails (iperf3 error, unreadable result, lost pings, a failed stream run)
 * fails the benchmark: exit 1 with the reason on stderr and in the JSON line's `error`.
 *
 * Before the runs, `--warmup 3` seconds of VPN TCP on the fresh tunnel (vpn_tcp_cold_*; not in the
 * medians), then as long on the bare stream.
 * `--idle-before SECS` leaves the nodes idle that long after the warm-up (a daemon's usual state
 * when traffic starts: V8's memory reducer has run).
 * The nodes run with the daemon's node flags (src/cli/commands/up/node-flags.ts; DMSNET_NODE_FLAGS
 * replaces them, for a before/after).
 * - vpn_tcp_sched / stream_sched: during VPN TCP and the bare stream, the share of a core each node's main
 *   thread spent on a CPU (aRun, bRun) and runnable but waiting for one (aWait, bWait), and the machine's
 *   idle cores (medians over runs): run + wait near 1 means CPU-bound even with cores idle.
 * - vpn_tcp_acks_per_mb: packets B read from its TUN during VPN TCP (the inner TCP's ACKs) per MB carried.
 * - vpn_udp_rate_lost_at: the same counters for the `--udp-rate` runs (summed over runs).
 * `--udp-only`: only the `--udp-rate` phases (veth UDP, VPN UDP) per run, for quick A/B runs of the UDP path.
 * `--congestion-control NAME|host`: the nodes' `vpn.congestionControl` (default: the config's, cubic; `host`:
 *   none on the routes, the namespaces' default, this host's BBR), for A/B runs of that setting; never
 *   pins anything on the iperf3 side. vpn_tcp_congestion: what the inner TCP got (routes' name or the default).
 * Usage: npm run bench -- vpn [--runs 3] [--secs 5] [--warmup 3] [--no-offload] [--udp-rate 5G] [--udp-len 1392] [--profile DIR] [--no-rcvbuf-probe] [--loss-only] [--udp-only] [--idle-before SECS] [--congestion-control NAME|host]
 * DMSNET_TUN_UDP_COALESCE=0 in the environment turns the TUN's UDP coalescing off (the "before").
 * DMSNET_TUN_UDP_WRITE_YIELD (yield, nap, adaptive, 0, ...) picks the receiver's give-away after each UDP record
 * (src/netdev/tun.ts); the JSON echoes it (`udp_write_yield`, `udp_yield_long_us`).
 * DMSNET_TUN_UDP_ROOM_ALONE=0 bounds the receiver's waits for room as before stop 30 (`udp_room_alone` echoes it).
 * DMSNET_NOISE_NATIVE=0 (Noise on Node's crypto) and DMSNET_VPN_ACK_THIN=0 (every inner ACK carried) are the
 * befores of stop 27; the JSON echoes both (`noise_native`, `ack_thin`) and gives `ack_thinned` per node.
 * Progress on stderr; the last stdout line is one JSON object. Needs root (namespaces, TUN).
 */
import { mkdirSync } from 'node:fs'
import { daemonNodeFlags } from '../src/cli/commands/up/node-flags.js'
import { newPhaseLog, phase, startRun, withSched, type SchedShares } from './_lib/vpn-phase.js'
import { createVpnWorld, specOf, type VpnNodeProc, type VpnWorld } from '../test/e2e/vpn-harness.js'
import type { VpnStatus } from '../src/vpn/types.js'

const udpRateIdx = process.argv.indexOf('--udp-rate')
/** Offered UDP rate (iperf3 -b), e.g. 1G; default 5G (more than either path carries). */
const udpRate = udpRateIdx >= 0 ? process.argv[udpRateIdx + 1] ?? '5G' : '5G'
const udpLenIdx = process.argv.indexOf('--udp-len')
/**
 * UDP datagram size (iperf3 -l). Default 1392: with its 28 bytes of headers it fills the VPN's
 * default 1420-byte MTU exactly. 1400 (used before) is fragmented in two by the tunnel (but not by
 * the 1500-byte veth), which doubles the packet rate and the loss of the VPN side only.
 */
const udpLen = udpLenIdx >= 0 ? process.argv[udpLenIdx + 1] ?? '1392' : '1392'

function arg (name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && v > 0 ? v : dflt
}

const log = (msg: string): void => { process.stderr.write(`[vpn] ${msg}\n`) }
const round = (x: number | undefined, d = 3): number | null => x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d

function stats (xs: number[]): { min: number, median: number, max: number } | undefined {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return { min: s[0]!, median: s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, max: s[s.length - 1]! }
}

interface IperfResult { end?: { sum_received?: { bits_per_second: number }, sum?: { bits_per_second: number, lost_percent?: number, packets?: number }, sum_sent?: { bits_per_second: number } }, error?: string }

/** A measurement that did not happen: fails the whole benchmark (never a zero, never left out of a median). */
class BenchRunError extends Error {
  static override name = 'BenchRunError'
  override name = 'BenchRunError'
}

/** One iperf3 run; throws BenchRunError when iperf3 fails or its result is unreadable. */
async function iperf (world: VpnWorld, client: VpnNodeProc, server: VpnNodeProc, addr: string, secs: number, udp: false | string, window?: string): Promise<{ gbps: number, lossPct?: number, packets?: number }> {
  const what = `iperf3 ${udp === false ? 'TCP' : `UDP at ${udp}`}${window != null ? ` -w ${window}` : ''} to ${addr}`
  const srv = world.net.status(server.ns, 'iperf3', ['-s', '-1', '-B', addr], { timeoutMs: (secs + 20) * 1000 })
  await new Promise(resolve => setTimeout(resolve, 400))
  const args = ['-c', addr, '-t', String(secs), '-J']
  if (udp !== false) args.push('-u', '-b', udp, '-l', udpLen)
  if (window != null) args.push('-w', window)
  const r = await world.net.status(client.ns, 'iperf3', args, { timeoutMs: (secs + 20) * 1000 })
  await srv
  let j: IperfResult
  try {
    j = JSON.parse(r.stdout) as IperfResult
  } catch {
    throw new BenchRunError(`${what}: output unreadable (exit ${r.code}): ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 200)}`)
  }
  if (j.error != null) throw new BenchRunError(`${what}: ${j.error}`)
  if (udp !== false) {
    const sum = j.end?.sum
    const lossPct = sum?.lost_percent
    const rx = j.end?.sum_received?.bits_per_second ?? (sum == null || lossPct == null ? undefined : sum.bits_per_second * (1 - lossPct / 100))
    if (rx == null || lossPct == null) throw new BenchRunError(`${what}: no received rate or loss in the result`)
    return { gbps: rx / 1e9, lossPct, ...(sum?.packets != null ? { packets: sum.packets } : {}) }
  }
  const rx = j.end?.sum_received?.bits_per_second
  if (rx == null) throw new BenchRunError(`${what}: no received rate in the result`)
  return { gbps: rx / 1e9 }
}

const profIdx = process.argv.indexOf('--profile')
/** `--profile DIR`: CPU profiles of both VPN nodes during the first run's VPN TCP and UDP iperf3 (DIR/vpn-{tcp,udp}-{a,b}.cpuprofile). */
const profileDir = profIdx >= 0 ? process.argv[profIdx + 1] : undefined
if (profileDir != null) mkdirSync(profileDir, { recursive: true })

async function profiled<T> (nodes: VpnNodeProc[], name: string, on: boolean, fn: () => Promise<T>): Promise<T> {
  if (!on || profileDir == null) return await fn()
  for (const n of nodes) await n.call('profile', { action: 'start' })
  const r = await fn()
  for (const n of nodes) await n.call('profile', { action: 'stop', file: `${profileDir}/vpn-${name}-${n.label}.cpuprofile` })
  return r
}

/** CPU seconds both node processes used so far. */
async function nodesCpuS (nodes: VpnNodeProc[]): Promise<number> {
  let us = 0
  for (const n of nodes) {
    const c = await n.call<{ user: number, system: number }>('cpu')
    us += c.user + c.system
  }
  return us / 1e6
}

/** `iperf` with the CPU seconds both VPN nodes spent per GB received (less sensitive to a busy machine than Gbit/s). */
async function iperfVpn (world: VpnWorld, a: VpnNodeProc, b: VpnNodeProc, addr: string, secs: number, udp: false | string): Promise<{ gbps: number, lossPct?: number, packets?: number, cpuSPerGb: number }> {
  const c0 = await nodesCpuS([a, b])
  const r = await iperf(world, a, b, addr, secs, udp)
  const cpu = await nodesCpuS([a, b]) - c0
  return { ...r, cpuSPerGb: cpu / (r.gbps * secs / 8) }
}

/** Udp RcvbufErrors in B's namespace: datagrams its kernel dropped because a receiving socket's buffer was full (veth and VPN runs alike). */
async function rcvbufErrors (world: VpnWorld, b: VpnNodeProc): Promise<number> {
  const snmp = (await world.net.status(b.ns, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter(l => l.startsWith('Udp:'))
  const v = Number(snmp[1]?.split(' ')[snmp[0]?.split(' ').indexOf('RcvbufErrors') ?? -1])
  if (!Number.isFinite(v)) throw new BenchRunError('cannot read Udp RcvbufErrors (/proc/net/snmp)')
  return v
}

/** One UDP iperf3 run's drops at the receiving socket, side by side for veth and VPN: count, datagrams iperf3 sent, and their share. */
interface RcvbufDrops { rcvbuf: number, sent: number | null, pct: number | null }
const rcvbufDrops = (rcvbuf: number, sent: number | undefined): RcvbufDrops =>
  ({ rcvbuf, sent: sent ?? null, pct: sent == null || sent === 0 ? null : round(100 * rcvbuf / sent, 2) })

/** Counters that say where UDP datagrams were lost: B's Udp RcvbufErrors, A's TUN tx drops, A's link queue drops. */
async function lossCounters (world: VpnWorld, a: VpnNodeProc, b: VpnNodeProc): Promise<LossCounts> {
  const snmp = (await world.net.status(b.ns, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter(l => l.startsWith('Udp:'))
  const names = snmp[0]?.split(' ') ?? []
  const values = snmp[1]?.split(' ') ?? []
  const rcvbuf = Number(values[names.indexOf('RcvbufErrors')])
  const st = await a.call<VpnStatus>('status')
  const links = JSON.parse((await world.net.status(a.ns, 'ip', ['-s', '-j', 'link', 'show', 'dev', st.interface ?? ''])).stdout) as Array<{ stats64?: { tx?: { dropped?: number } } }>
  const tunTx = links[0]?.stats64?.tx?.dropped
  if (!Number.isFinite(rcvbuf) || tunTx == null) throw new BenchRunError('cannot read the UDP loss counters (/proc/net/snmp, ip -s link)')
  const sb = await b.call<VpnStatus>('status')
  return { rcvbuf, tunTx, linkQueue: st.peers.reduce((n, p) => n + p.dropQueueFull, 0), tunWrite: sb.tun?.txDrops ?? 0 }
}

interface LossCounts { rcvbuf: number, tunTx: number, linkQueue: number, tunWrite: number }
const LOSS_KEYS = ['rcvbuf', 'tunTx', 'linkQueue', 'tunWrite'] as const

/** One VPN 500 Mbit/s run (iperf3 -w `window` when given): its loss, and the counters' growth added to `lostAt`. */
async function vpnLossRun (world: VpnWorld, a: VpnNodeProc, b: VpnNodeProc, addr: string, secs: number, lostAt: LossCounts, window?: string): Promise<{ lossPct: number, drops: RcvbufDrops }> {
  const k0 = await lossCounters(world, a, b)
  const r = await iperf(world, a, b, addr, secs, '500M', window)
  const k1 = await lossCounters(world, a, b)
  for (const k of LOSS_KEYS) lostAt[k] += k1[k] - k0[k]
  return { lossPct: r.lossPct!, drops: rcvbufDrops(k1.rcvbuf - k0.rcvbuf, r.packets) }
}

/** One veth UDP run at `rate` with its drops at B's receiving socket (the same counter as the VPN runs'). */
async function vethUdpRun (world: VpnWorld, a: VpnNodeProc, b: VpnNodeProc, secs: number, rate: string, window?: string): Promise<{ gbps: number, lossPct: number, drops: RcvbufDrops }> {
  const r0 = await rcvbufErrors(world, b)
  const r = await iperf(world, a, b, b.underlayIp, secs, rate, window)
  return { gbps: r.gbps, lossPct: r.lossPct!, drops: rcvbufDrops(await rcvbufErrors(world, b) - r0, r.packets) }
}

/** Median ICMP RTT of 40 pings 50 ms apart; throws unless at least 30 came back. */
async function rtt (world: VpnWorld, from: VpnNodeProc, addr: string): Promise<number> {
  const r = await world.net.status(from.ns, 'ping', ['-c', '40', '-i', '0.05', '-W', '2', addr], { timeoutMs: 30_000 })
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map(m => Number(m[1]))
  if (times.length < 30) throw new BenchRunError(`ping ${addr}: ${times.length}/40 replies`)
  return stats(times)!.median
}

/** Average sizes from a node's TUN counters (see TunStats). */
function tunSummary (t: Record<string, number> | undefined): Record<string, number | null> | null {
  if (t == null) return null
  const per = (x: number | undefined, y: number | undefined): number | null => x == null || y == null || y === 0 ? null : round(x / y, 1)
  return { rxBytesPerPacket: per(t.rxBytes, t.rxPackets), rxPacketsPerBatch: per(t.rxPackets, t.rxBatches), txBytesPerPacket: per(t.txBytes, t.txPackets), txQueued: t.txQueued ?? null, txDrops: t.txDrops ?? null, rxCoalesced: t.rxCoalesced ?? null, txCoalesced: t.txCoalesced ?? null, txSplit: t.txSplit ?? null, txYields: t.txYields ?? null, txReaderDrops: t.txReaderDrops ?? null, txYieldUs: t.txYieldUs ?? null, txYieldsLong: t.txYieldsLong ?? null, txNaps: t.txNaps ?? null, txNapUs: t.txNapUs ?? null, txRoomWaits: t.txRoomWaits ?? null, txRoomWaitUs: t.txRoomWaitUs ?? null, txRoomGaveUp: t.txRoomGaveUp ?? null, txRoomAlone: t.txRoomAlone ?? null, readPauses: t.readPauses ?? null, readPausedMs: t.readPausedMs ?? null }
}

/** min/median/max of per-run values, rounded. */
function perRun (xs: number[]): { min: number | null, median: number | null, max: number | null } | null {
  const st = stats(xs)
  return st == null ? null : { min: round(st.min), median: round(st.median), max: round(st.max) }
}

/** `--loss-only`: only the 500 Mbit/s loss phases (veth, VPN, and the -w 2M probe), for many quick loss runs. */
const lossOnly = process.argv.includes('--loss-only')
/** `--no-rcvbuf-probe` skips the two 500 Mbit/s runs with 2 MiB socket buffers. */
const rcvbufProbe = !process.argv.includes('--no-rcvbuf-probe')
/** `--udp-only`: only the `--udp-rate` phases (veth and VPN UDP, alternating), for quick A/B runs of the UDP path. */
const udpOnly = process.argv.includes('--udp-only')

async function main (): Promise<Record<string, unknown>> {
  const runs = arg('runs', 3)
  const secs = arg('secs', 5)
  const offload = !process.argv.includes('--no-offload')
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new BenchRunError('needs root (network namespaces, TUN devices)')
  }
  const ccIdx = process.argv.indexOf('--congestion-control')
  const ccArg = ccIdx >= 0 ? process.argv[ccIdx + 1] : undefined
  if (ccIdx >= 0 && (ccArg == null || !/^(host|[a-z0-9_]{1,15})$/.test(ccArg))) throw new BenchRunError('--congestion-control takes an algorithm name or host')
  const ccArgs = ccArg == null ? [] : ['--vpn-config', JSON.stringify({ congestionControl: ccArg === 'host' ? '' : ccArg })]
  const world = await createVpnWorld(undefined, ['a', 'b'], { extraArgs: [...(offload ? [] : ['--no-offload']), ...ccArgs] })
  const onSignal = (): void => { void world.cleanup().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const [a, b] = world.nodes as [VpnNodeProc, VpnNodeProc]
    const st = await a.call<VpnStatus>('start', { peers: [specOf(b)] })
    const vpnB = st.peers.find(p => p.peerId === b.peerId)!.ipv4
    await b.call('waitLink', { peerId: a.peerId })
    await world.net.status(a.ns, 'ping', ['-c', '3', '-i', '0.2', vpnB])
    // the algorithm the inner TCP starts with: the routes' (vpn.congestionControl) or the namespace's default
    const nsDefault = (await world.net.exec(a.ns, 'sysctl', ['-n', 'net.ipv4.tcp_congestion_control'])).trim()
    const routeCc = /congctl (\S+)/.exec(await world.net.exec(a.ns, 'ip', ['-4', 'route', 'show', 'dev', st.interface ?? '']))?.[1]
    const innerCc = { routes: routeCc ?? null, namespaceDefault: nsDefault, used: routeCc ?? nsDefault }
    log(`two namespaces up; VPN ${st.ipv4} -> ${vpnB}, underlay ${a.underlayIp} -> ${b.underlayIp}, offload ${offload}, inner TCP ${innerCc.used}`)

    // A cold tunnel (fresh stream at yamux's 256 KiB window, cold JIT, V8 heap not yet grown)
    // carries about half of what it does from the second run on (8-10 CPU-s/GB against 4). Both
    // sides of the TCP ratio are warmed: the VPN (its cold figure is reported apart) and then the
    // bare stream's sender and sink, whose first timed run otherwise read 0.67 Gbit/s against
    // 2.0-2.5 later in the same bench (`--warmup 0` turns both off).
    const warmupSecs = process.argv.includes('--warmup') ? Number(process.argv[process.argv.indexOf('--warmup') + 1]) : 3
    let coldTcp: { gbps: number, cpuSPerGb: number } | undefined
    if (warmupSecs > 0) {
      coldTcp = await iperfVpn(world, a, b, vpnB, warmupSecs, false)
      log(`warm-up: VPN TCP ${warmupSecs} s on the fresh tunnel: ${round(coldTcp.gbps)} Gbit/s, ${round(coldTcp.cpuSPerGb, 2)} CPU-s/GB (not in the medians)`)
      if (!lossOnly && !udpOnly) {
        const warm = await a.call<{ gbps: number }>('bulk', { peerId: b.peerId, seconds: warmupSecs }, (warmupSecs + 60) * 1000)
        log(`warm-up: bare stream ${warmupSecs} s: ${round(warm.gbps)} Gbit/s (not in the medians)`)
      }
    }
    // `--idle-before SECS`: leave both nodes idle this long before the measured runs, as a daemon
    // that carried no traffic for a while is (V8's memory reducer has run by then; that state
    // set off the GC storms: docs/vpn.md, "GC storms"). Default 0.
    const idleBefore = process.argv.includes('--idle-before') ? Number(process.argv[process.argv.indexOf('--idle-before') + 1]) : 0
    if (!Number.isFinite(idleBefore) || idleBefore < 0) throw new BenchRunError('--idle-before takes a number of seconds >= 0')
    if (idleBefore > 0) {
      log(`idle ${idleBefore} s before the runs`)
      await new Promise(resolve => setTimeout(resolve, idleBefore * 1000)) // the idle period itself is what is measured after
    }
    const series: Record<string, number[]> = {
      vpn_tcp: [], veth_tcp: [], vpn_udp: [], veth_udp: [], vpn_udp_loss_500m: [], veth_udp_loss_500m: [], vpn_udp_loss_500m_w2m: [], veth_udp_loss_500m_w2m: [], vpn_udp_rcvbuf_pct: [], vpn_udp_cpu_carried: [], stream: [], vpn_rtt: [], veth_rtt: [], stream_rtt: [], vpn_tcp_cpu: [], vpn_tcp_acks_per_mb: [], vpn_udp_cpu: [], stream_cpu: [], tcp_vs_stream_same_run: [], udp_vs_veth_same_run: [], rtt_vs_stream_same_run: []
    }
    const push = (k: string, v: number): void => { series[k]!.push(v) }
    /** Puts a run's figure next to its phase's counters in `per_run`. */
    const note = (ph: string, k: string, v: number | undefined): void => {
      const rec = phases.perRun.at(-1)?.[ph]
      if (rec != null && v != null) rec[k] = round(v) ?? NaN
    }
    /** Scheduling shares per TCP phase (see withSched): whether the nodes wanted more CPU than they got. */
    const schedSeries: Record<string, SchedShares[]> = { vpn_tcp: [], stream: [] }
    const pushSched = (k: string, v: SchedShares): void => { schedSeries[k]!.push(v) }
    const schedMedian = (k: string): Record<string, number | null> | null => schedSeries[k]!.length === 0
      ? null
      : Object.fromEntries((['aRun', 'aWait', 'bRun', 'bWait', 'idleCores'] as const).map(f => [f, round(stats(schedSeries[k]!.map(x => x[f]))?.median, 2)]))
    const lostAt: LossCounts = { rcvbuf: 0, tunTx: 0, linkQueue: 0, tunWrite: 0 }
    const lostAtW2m: LossCounts = { rcvbuf: 0, tunTx: 0, linkQueue: 0, tunWrite: 0 }
    const lostAtRate: LossCounts = { rcvbuf: 0, tunTx: 0, linkQueue: 0, tunWrite: 0 }
    /** Per run, each UDP phase's drops at B's receiving socket (Udp RcvbufErrors), veth and VPN side by side. */
    const rcvbufPerRun: Array<Record<string, RcvbufDrops>> = []
    let drops: Record<string, RcvbufDrops> = {}
    const nodes = [a, b]
    const phases = newPhaseLog()
    // per phase: B's receiving-socket drops and A's TUN queue drops (the kernel's, before A read them)
    phases.probe = async () => {
      const k = await lossCounters(world, a, b)
      return { b_rcvbufErrors: k.rcvbuf, a_tunKernelTxDrops: k.tunTx }
    }
    const run = async <T>(name: string, fn: () => Promise<T>): Promise<T> => await phase(phases, nodes, name, fn)
    const streamRun = async (): Promise<void> => {
      try {
        const c0 = await nodesCpuS(nodes)
        const { r: bulk, sched } = await withSched(nodes, async () => await a.call<{ gbps: number, bytes: number }>('bulk', { peerId: b.peerId, seconds: secs }, (secs + 60) * 1000))
        pushSched('stream', sched)
        push('stream_cpu', (await nodesCpuS(nodes) - c0) / (bulk.bytes / 1e9))
        push('stream', bulk.gbps)
      } catch (err) { throw new BenchRunError(`bare stream run failed: ${(err as Error).message}`) }
    }
    /** Run `i`'s rate phases: TCP (veth, bare stream, VPN) and UDP at `--udp-rate` (veth, VPN). */
    const rateRuns = async (i: number): Promise<void> => {
      if (!udpOnly) await tcpRuns(i)
      await udpRuns(i)
    }
    const tcpRuns = async (i: number): Promise<void> => {
      push('veth_tcp', (await run('veth_tcp', async () => await iperf(world, a, b, b.underlayIp, secs, false))).gbps)
      // the stream and VPN TCP back to back, in alternating order, so that drift hits both alike
      if (i % 2 === 1) await run('stream', streamRun)
      const tcp = await run('vpn_tcp', async () => {
        // the inner TCP's ACKs come back through the VPN (B reads them, A writes them): per MB carried
        const b0 = (await b.call<VpnStatus>('status')).tun
        const { r, sched } = await withSched(nodes, async () => await profiled(nodes, 'tcp', i === 0, async () => await iperfVpn(world, a, b, vpnB, secs, false)))
        pushSched('vpn_tcp', sched)
        const b1 = (await b.call<VpnStatus>('status')).tun
        push('vpn_tcp_acks_per_mb', ((b1?.rxPackets ?? NaN) - (b0?.rxPackets ?? NaN)) / (r.gbps * secs / 8 * 1000))
        return r
      })
      push('vpn_tcp', tcp.gbps)
      push('vpn_tcp_cpu', tcp.cpuSPerGb)
      if (i % 2 === 0) await run('stream', streamRun)
      push('tcp_vs_stream_same_run', tcp.gbps / series.stream!.at(-1)!)
      note('vpn_tcp', 'gbps', tcp.gbps)
      note('vpn_tcp', 'vsStream', tcp.gbps / series.stream!.at(-1)!)
    }
    const udpRuns = async (i: number): Promise<void> => {
      const veth = await run('veth_udp', async () => await vethUdpRun(world, a, b, secs, udpRate))
      drops.veth_udp = veth.drops
      push('veth_udp', veth.gbps)
      const udp = await run('vpn_udp', async () => {
        // what the VPN carried (datagrams A read from its TUN) against what died at the receiving
        // socket: work done for datagrams the application never got (docs/vpn.md, "Where the CPU goes")
        const k0 = await lossCounters(world, a, b)
        const t0 = (await a.call<VpnStatus>('status')).tun
        const r = await profiled(nodes, 'udp', i === 0, async () => await iperfVpn(world, a, b, vpnB, secs, udpRate))
        const t1 = (await a.call<VpnStatus>('status')).tun
        const k1 = await lossCounters(world, a, b)
        for (const k of LOSS_KEYS) lostAtRate[k] += k1[k] - k0[k]
        const carried = (t1?.rxPackets ?? NaN) - (t0?.rxPackets ?? NaN)
        const carriedGb = ((t1?.rxBytes ?? NaN) - (t0?.rxBytes ?? NaN)) / 1e9
        if (!(carried > 0) || !(carriedGb > 0)) throw new BenchRunError('VPN UDP: no datagrams read from the sending TUN')
        return { ...r, rcvbuf: k1.rcvbuf - k0.rcvbuf, rcvbufPct: 100 * (k1.rcvbuf - k0.rcvbuf) / carried, cpuSPerGbCarried: r.cpuSPerGb * (r.gbps * secs / 8) / carriedGb }
      })
      drops.vpn_udp = rcvbufDrops(udp.rcvbuf, udp.packets)
      push('vpn_udp', udp.gbps)
      push('vpn_udp_cpu', udp.cpuSPerGb)
      push('vpn_udp_rcvbuf_pct', udp.rcvbufPct)
      push('vpn_udp_cpu_carried', udp.cpuSPerGbCarried)
      push('udp_vs_veth_same_run', udp.gbps / series.veth_udp!.at(-1)!)
      note('veth_udp', 'gbps', veth.gbps)
      note('vpn_udp', 'gbps', udp.gbps)
      note('vpn_udp', 'vsVeth', udp.gbps / veth.gbps)
    }
    for (let i = 0; i < runs; i++) {
      drops = {}
      rcvbufPerRun.push(drops)
      startRun(phases)
      if (!lossOnly) await rateRuns(i)
      if (udpOnly) {
        log(`run ${i + 1}/${runs} (load ${phases.load.at(-1)}): veth_udp=${round(series.veth_udp!.at(-1))} vpn_udp=${round(series.vpn_udp!.at(-1))} rcvbuf_pct=${round(series.vpn_udp_rcvbuf_pct!.at(-1), 1)}`)
        log(`run ${i + 1}/${runs} vpn_udp counters: ${JSON.stringify(phases.perRun.at(-1)?.vpn_udp)}`)
        continue
      }
      const veth500 = await run('veth_500m', async () => await vethUdpRun(world, a, b, secs, '500M'))
      drops.veth_500m = veth500.drops
      push('veth_udp_loss_500m', veth500.lossPct)
      const vpn500 = await run('vpn_500m', async () => await vpnLossRun(world, a, b, vpnB, secs, lostAt))
      drops.vpn_500m = vpn500.drops
      push('vpn_udp_loss_500m', vpn500.lossPct)
      note('veth_500m', 'lossPct', veth500.lossPct)
      note('vpn_500m', 'lossPct', vpn500.lossPct)
      if (rcvbufProbe) {
        const vethW = await run('veth_500m_w2m', async () => await vethUdpRun(world, a, b, secs, '500M', '2M'))
        drops.veth_500m_w2m = vethW.drops
        push('veth_udp_loss_500m_w2m', vethW.lossPct)
        const vpnW = await run('vpn_500m_w2m', async () => await vpnLossRun(world, a, b, vpnB, secs, lostAtW2m, '2M'))
        drops.vpn_500m_w2m = vpnW.drops
        push('vpn_udp_loss_500m_w2m', vpnW.lossPct)
      }
      if (!lossOnly) {
        await run('rtt', async () => {
          push('stream_rtt', stats((await a.call<{ rtts: number[] }>('rtt', { peerId: b.peerId, count: 40, intervalMs: 50 }, 60_000)).rtts)!.median)
          push('veth_rtt', await rtt(world, a, b.underlayIp))
          push('vpn_rtt', await rtt(world, a, vpnB))
        })
        push('rtt_vs_stream_same_run', series.vpn_rtt!.at(-1)! / series.stream_rtt!.at(-1)!)
      }
      log(`run ${i + 1}/${runs} (load ${phases.load.at(-1)}): ${Object.entries(series).map(([k, v]) => `${k}=${round(v.at(-1))}`).join(' ')}`)
      log(`run ${i + 1}/${runs} vpn_udp counters: ${JSON.stringify(phases.perRun.at(-1)?.vpn_udp)}`)
      log(`run ${i + 1}/${runs}: drops at B's receiving socket (Udp RcvbufErrors, % of datagrams sent): ${Object.entries(drops).map(([k, d]) => `${k} ${d.rcvbuf} (${d.pct ?? '?'}%)`).join(', ')}`)
    }
    const s = await a.call<VpnStatus>('status')
    const sb = await b.call<VpnStatus>('status')
    const peer = s.peers.find(p => p.peerId === b.peerId)
    const out: Record<string, unknown> = {
      vpn_tcp_gbps: round(stats(series.vpn_tcp!)?.median),
      vpn_udp_gbps: round(stats(series.vpn_udp!)?.median),
      veth_tcp_gbps: round(stats(series.veth_tcp!)?.median),
      veth_udp_gbps: round(stats(series.veth_udp!)?.median),
      stream_gbps: round(stats(series.stream!)?.median),
      vpn_rtt_ms: round(stats(series.vpn_rtt!)?.median),
      veth_rtt_ms: round(stats(series.veth_rtt!)?.median),
      // the bare libp2p stream's round trip (64 B echo on one open stream, same processes)
      stream_rtt_ms: round(stats(series.stream_rtt!)?.median),
      // iperf3 UDP at 500 Mbit/s offered, 1400-byte datagrams: loss in percent (median of runs)
      vpn_udp_loss_pct_500m: round(stats(series.vpn_udp_loss_500m!)?.median, 2),
      veth_udp_loss_pct_500m: round(stats(series.veth_udp_loss_500m!)?.median, 2),
      // datagrams lost in the VPN 500 Mbit/s runs, by where (summed over runs; see the header)
      vpn_udp_500m_lost_at: lostAt,
      vpn_udp_500m_w2m_lost_at: rcvbufProbe ? lostAtW2m : null,
      // the same for the `--udp-rate` runs (what the VPN carried but the application never got, and where)
      vpn_udp_rate_lost_at: lostAtRate,
      // per run, each UDP phase's drops at B's receiving socket (Udp RcvbufErrors), veth and VPN side by
      // side: count, datagrams iperf3 sent, and their share in % (the loss the receiving application caused)
      udp_rcvbuf_per_run: rcvbufPerRun,
      udp_rcvbuf_pct_median: Object.fromEntries([...new Set(rcvbufPerRun.flatMap(r => Object.keys(r)))].map(k =>
        [k, round(stats(rcvbufPerRun.flatMap(r => r[k]?.pct != null ? [r[k].pct] : []))?.median, 2)])),
      // CPU seconds of both VPN node processes per GB received (medians)
      vpn_tcp_cpu_s_per_gb: round(stats(series.vpn_tcp_cpu!)?.median, 2),
      vpn_udp_cpu_s_per_gb: round(stats(series.vpn_udp_cpu!)?.median, 2),
      // packets B read from its TUN (the inner TCP's ACKs) per MB the VPN TCP run carried
      vpn_tcp_acks_per_mb: round(stats(series.vpn_tcp_acks_per_mb!)?.median, 1),
      // the same per GB the VPN carried (read from the sending TUN), and the share of those
      // datagrams the receiving socket dropped (its buffer full): the work spent for nothing
      vpn_udp_cpu_s_per_gb_carried: round(stats(series.vpn_udp_cpu_carried!)?.median, 2),
      vpn_udp_rcvbuf_drop_pct: round(stats(series.vpn_udp_rcvbuf_pct!)?.median, 1),
      // the same for the bare stream: what the VPN's own work adds per GB, apart from noise + yamux
      stream_cpu_s_per_gb: round(stats(series.stream_cpu!)?.median, 2),
      vpn_tcp_congestion: innerCc,
      // medians over runs of each node's main thread on a CPU / runnable but waiting for one, and the idle cores
      vpn_tcp_sched: schedMedian('vpn_tcp'),
      stream_sched: schedMedian('stream'),
      vpn_tcp_vs_stream: round((stats(series.vpn_tcp!)?.median ?? NaN) / (stats(series.stream!)?.median ?? NaN), 2),
      vpn_udp_vs_veth: round((stats(series.vpn_udp!)?.median ?? NaN) / (stats(series.veth_udp!)?.median ?? NaN), 2),
      vpn_rtt_vs_stream: round((stats(series.vpn_rtt!)?.median ?? NaN) / (stats(series.stream_rtt!)?.median ?? NaN), 2),
      // each run's own ratio, min/median/max over runs (steadier than the ratio of medians)
      vpn_tcp_vs_stream_per_run: perRun(series.tcp_vs_stream_same_run!),
      vpn_udp_vs_veth_per_run: perRun(series.udp_vs_veth_same_run!),
      vpn_rtt_vs_stream_per_run: perRun(series.rtt_vs_stream_same_run!),
      vpn_udp_loss_pct_500m_per_run: perRun(series.vpn_udp_loss_500m!),
      veth_udp_loss_pct_500m_per_run: perRun(series.veth_udp_loss_500m!),
      // the receiver's socket buffer as the only change (iperf3 -w 2M at both ends; null with --no-rcvbuf-probe)
      vpn_udp_loss_pct_500m_w2m: round(stats(series.vpn_udp_loss_500m_w2m!)?.median, 2),
      veth_udp_loss_pct_500m_w2m: round(stats(series.veth_udp_loss_500m_w2m!)?.median, 2),
      phases: { ...phases, load: undefined, perRun: undefined, probe: undefined, load_min: Math.min(...phases.load), load_max: Math.max(...phases.load) },
      // per run, per phase: each counter's growth during the phase (bench/_lib/vpn-phase.ts phaseCounters;
      // a_/b_ = sender/receiver node), with the phase's load and length: what a low run waited for
      per_run: phases.perRun,
      // the warm-up on the fresh tunnel (null with --warmup 0)
      vpn_tcp_cold_gbps: round(coldTcp?.gbps),
      vpn_tcp_cold_cpu_s_per_gb: round(coldTcp?.cpuSPerGb, 2),
      offload,
      udp_offered: udpRate,
      udp_len: Number(udpLen),
      runs,
      secs,
      idle_before_s: idleBefore,
      node_flags: daemonNodeFlags().join(' '),
      drops: peer == null ? null : { queueFull: peer.dropQueueFull, spoofed: peer.dropSpoofed, noRoute: s.dropNoRoute },
      // what the TUNs saw over all runs: bytes per packet read shows whether TSO/USO super-packets
      // reach the data path, packets per read batch how much each wakeup carries
      tun: { a: tunSummary(s.tun), b: tunSummary(sb.tun) },
      // pure TCP ACKs each node read from its TUN and left out (superseded in the same batch; src/vpn/ack-thin.ts)
      ack_thinned: { a: s.ackThinned ?? null, b: sb.ackThinned ?? null },
      noise_native: process.env.DMSNET_NOISE_NATIVE ?? 'default',
      udp_write_yield: process.env.DMSNET_TUN_UDP_WRITE_YIELD ?? 'default',
      udp_yield_long_us: process.env.DMSNET_TUN_UDP_YIELD_LONG_US ?? 'default',
      udp_room_alone: process.env.DMSNET_TUN_UDP_ROOM_ALONE ?? 'default',
      ack_thin: process.env.DMSNET_VPN_ACK_THIN ?? 'default'
    }
    for (const [k, v] of Object.entries(series)) {
      const st2 = stats(v)
      out[`${k}_range`] = st2 == null ? null : [round(st2.min), round(st2.max)]
    }
    return out
  } finally {
    await world.cleanup()
  }
}

main().then(
  (result) => { process.stdout.write(`${JSON.stringify({ bench: 'vpn', ...result })}\n`) },
  (err: Error) => {
    log(`failed: ${err.stack ?? err.message}`)
    process.stdout.write(`${JSON.stringify({ bench: 'vpn', error: err.message })}\n`)
    process.exitCode = 1
  }
)

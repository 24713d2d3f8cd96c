/**
 * Benchmark: private swarms.
 *
 * 1. Stream throughput between two processes over loopback, with dmsnet's PSK protector (inside a
 *    swarm) and without it (public network), same run, alternating: the client writes BYTES in
 *    64 KiB chunks honouring backpressure; the server answers one byte once it has them all.
 * 2. Key rotation on 10 nodes (1 creator + 9 members, one process): time from `rotate()` until
 *    every member is on the new epoch and connected to the creator again.
 *
 * Usage: npm run bench -- swarm [--runs 3] [--mb 128] [--rotations 3] [--nodes 10] [--cipher auto|native|avx512|sodium|js] [--paths plain,psk,pskJs]
 * After one uncounted full-size warm-up transfer per path, each run measures three paths in turn
 * (the order alternates between runs): plain, PSK on the chosen cipher (default: the fastest
 * available, AVX-512 then libsodium; `DMSNET_XSALSA20` changes that default for A/B runs) and PSK on the pure JavaScript cipher (`psk_js_*`). `--rotations 0` skips part 2.
 * CPU-s/GB is given for the sender (`*_cpu_s_per_gb`) and the receiver (`*_server_cpu_s_per_gb`),
 * the receiver's main-thread CPU-s/GB (`*_server_main_cpu_s_per_gb`, from /proc) and the share of its
 * keystream taken from the generator thread's rings (`psk_server_ring_share`).
 * `--paths` measures only the paths listed (for profiling one path with `node --cpu-prof`); the
 * keys of a path left out are null.
 * A run that fails (an error, a rotation that never completes) fails the whole benchmark: it
 * exits non-zero with the reason, never reporting a partial median.
 * The same file runs the throughput server when given `--server` (spawned by the client).
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Config } from '../src/config/index.js'
import { createLogger } from '../src/logging.js'
import { createNetwork } from '../src/network/network.js'
import { pskProtector } from '../src/swarm/protector.js'
import type { XSalsa20Impl } from '../src/swarm/xsalsa20.js'
import { createSwarmManager, type SwarmManager } from '../src/swarm/swarm.js'
import type { HostProfile, Network } from '../src/network/types.js'
import type { Stream } from '@libp2p/interface'
import { loopbackConfig } from './_lib/libp2p.js'
import { numArg as arg, progress, serverAnnouncement, spawnServer, stdinClosed, stopServer, writeJsonLine } from './_lib/process.js'
import { median, minMedianMax as stats, round } from './_lib/stats.js'
import { drained } from '../src/network/stream-drain.js'
import { loadSimd } from '../src/swarm/xsalsa20-simd.js'

const SINK = '/dmsnet-bench/swarm-sink/1.0.0'
const CHUNK = 64 * 1024

function strArg (name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const log = progress('swarm')

function benchConfig (dataDir: string, port = 0): Config {
  return loopbackConfig(dataDir, {
    dht: { mode: 'server', addressFilter: 'all' },
    // every node dials from 127.0.0.1: the per-host inbound rate limit would throttle the swarm
    connectionManager: { inboundConnectionThreshold: 1000 }
  }, port)
}

function cipherArg (): XSalsa20Impl {
  const c = strArg('cipher') ?? 'auto'
  if (!['auto', 'native', 'avx512', 'sodium', 'js'].includes(c)) throw new Error(`--cipher must be auto, native, avx512, sodium or js (got ${c})`)
  return c as XSalsa20Impl
}

type Path = 'plain' | 'psk' | 'pskJs'
const PATHS: Path[] = ['plain', 'psk', 'pskJs']

/** The paths the client measures (`--paths`, default all three). */
function measuredPaths (): Path[] {
  const list = strArg('paths')?.split(',') ?? PATHS
  const bad = list.filter(p => !PATHS.includes(p as Path))
  if (bad.length > 0 || list.length === 0) throw new Error(`--paths takes a comma list of ${PATHS.join(', ')} (got ${strArg('paths')})`)
  return list as Path[]
}

/** The three paths measured in every run: public, PSK on the chosen cipher, PSK on the JS cipher (the old path). */
function profiles (pskHex: string): { hosts: Record<Path, HostProfile>, cipher: string } {
  const psk = new Uint8Array(Buffer.from(pskHex, 'hex'))
  const protector = pskProtector({ psk, cipher: cipherArg() })
  const swarm = { dhtProtocolPrefix: '/dmsnet/swarm/bench', bootstrap: [] }
  return {
    hosts: {
      plain: { name: 'public', dhtProtocolPrefix: '/dmsnet', bootstrap: [] },
      psk: { name: 'swarm:bench', connectionProtector: protector, ...swarm },
      pskJs: { name: 'swarm:bench-js', connectionProtector: pskProtector({ psk, cipher: 'js' }), ...swarm }
    },
    cipher: protector.stats.cipherImpl
  }
}

/** CPU microseconds of this process's main thread (the event loop) so far, from /proc (10 ms ticks). */
function mainThreadCpuUs (): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * 10_000
}

/** What the sink measured over one transfer (its answer to the client, as JSON). */
interface SinkReport {
  /** CPU microseconds of the whole process (every thread: the keystream generator too). */
  cpuUs: number
  /** CPU microseconds of the main thread alone. */
  mainCpuUs: number
  /** Keystream batches this process took from the generator's rings, and computed inline while a ring ran behind. */
  ring: number
  inline: number
}

/** Reads until the client half-closes, then answers with a `SinkReport` for the bytes it read. */
async function sink (stream: Stream): Promise<void> {
  let cpu0: NodeJS.CpuUsage | undefined
  let main0 = 0
  const totals = (): { ringBatches: number, inlineBatches: number } => loadSimd()?.xsalsa20AheadTotals() ?? { ringBatches: 0, inlineBatches: 0 }
  let t0 = totals()
  for await (const chunk of stream) {
    if (cpu0 == null) { cpu0 = process.cpuUsage(); main0 = mainThreadCpuUs(); t0 = totals() }
    void chunk
  }
  const c = process.cpuUsage(cpu0)
  const t1 = totals()
  const report: SinkReport = { cpuUs: c.user + c.system, mainCpuUs: mainThreadCpuUs() - main0, ring: t1.ringBatches - t0.ringBatches, inline: t1.inlineBatches - t0.inlineBatches }
  stream.send(new TextEncoder().encode(JSON.stringify(report)))
  await stream.close()
}

/** Server process: one plain and one PSK network, prints their addresses, runs until stdin closes. */
async function server (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `dmsnet-bench-swarm-srv-${process.pid}-`))
  const p = profiles(strArg('psk')!)
  const nets: Network[] = []
  try {
    const addrs: Partial<Record<Path, string>> = {}
    for (const name of PATHS) {
      const net = await createNetwork({ config: benchConfig(join(dir, name)), profile: p.hosts[name] })
      await net.handle(SINK, (s) => { void sink(s) })
      await net.start()
      nets.push(net)
      addrs[name] = net.host.getMultiaddrs()[0]!.toString()
    }
    writeJsonLine(addrs)
    await stdinClosed()
  } finally {
    await Promise.allSettled(nets.map(async n => { await n.stop() }))
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * MB/s, the sending and the receiving process's CPU seconds per GB (less sensitive than MB/s to a
 * busy machine), the receiver's main-thread CPU seconds per GB, and the share of its keystream
 * that came from the generator's rings.
 */
async function transfer (net: Network, addr: string, bytes: number): Promise<{ mbps: number, cpuSPerGb: number, serverCpuSPerGb: number, serverMainSPerGb: number, serverRingShare: number }> {
  const buf = new Uint8Array(randomBytes(CHUNK))
  const stream = await net.dialProtocol(addr, SINK, { signal: AbortSignal.timeout(10_000) })
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    if (!stream.send(buf)) await drained(stream, { signal: AbortSignal.timeout(30_000) })
  }
  await stream.close({ signal: AbortSignal.timeout(60_000) })
  const ack: Uint8Array[] = []
  for await (const chunk of stream) ack.push(chunk.subarray())
  const got = Buffer.concat(ack).toString()
  let rep: SinkReport
  try {
    rep = JSON.parse(got) as SinkReport
  } catch {
    throw new Error(`sink did not acknowledge the transfer (got ${JSON.stringify(got.slice(0, 80))})`)
  }
  const secs = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const perGb = (us: number): number => us / 1e6 / (bytes / 1e9)
  return { mbps: bytes / 1e6 / secs, cpuSPerGb: perGb(cpu.user + cpu.system), serverCpuSPerGb: perGb(rep.cpuUs), serverMainSPerGb: perGb(rep.mainCpuUs), serverRingShare: rep.ring + rep.inline > 0 ? rep.ring / (rep.ring + rep.inline) : 0 }
}

type PerPath = Record<Path, number[]>
const perPath = (): PerPath => ({ plain: [], psk: [], pskJs: [] })

async function throughput (runs: number, mb: number): Promise<{ mbps: PerPath, cpu: PerPath, srvCpu: PerPath, srvMain: PerPath, srvRing: PerPath, cipher: string }> {
  const pskHex = randomBytes(32).toString('hex')
  const bytes = Math.ceil(mb * 1024 * 1024 / CHUNK) * CHUNK
  const self = fileURLToPath(import.meta.url)
  const child = spawnServer(self, ['--psk', pskHex, '--cipher', cipherArg()])
  const dir = mkdtempSync(join(tmpdir(), `dmsnet-bench-swarm-cli-${process.pid}-`))
  const nets: Network[] = []
  const p = profiles(pskHex)
  const out = { mbps: perPath(), cpu: perPath(), srvCpu: perPath(), srvMain: perPath(), srvRing: perPath(), cipher: p.cipher }
  try {
    const addrs = await serverAnnouncement<Record<Path, string>>(child)
    const clients: Partial<Record<Path, Network>> = {}
    for (const name of PATHS) {
      const net = await createNetwork({ config: benchConfig(join(dir, name)), profile: p.hosts[name] })
      await net.start()
      nets.push(net)
      clients[name] = net
    }
    const measured = measuredPaths()
    // a full-size, uncounted warm-up per path: with 8 MiB the first counted run was still tiering up
    // (plain rose 479 -> 638 -> 843 MB/s over three runs of one quiet bench), so run 1 was noise
    for (const name of measured) await transfer(clients[name]!, addrs[name], bytes)
    for (let r = 0; r < runs; r++) {
      // the order alternates, so no path always runs just after another one's garbage and JIT work
      for (const name of r % 2 === 0 ? measured : [...measured].reverse()) {
        const t = await transfer(clients[name]!, addrs[name], bytes)
        out.mbps[name].push(t.mbps)
        out.cpu[name].push(t.cpuSPerGb)
        out.srvCpu[name].push(t.serverCpuSPerGb)
        out.srvMain[name].push(t.serverMainSPerGb)
        out.srvRing[name].push(t.serverRingShare)
      }
      const show = (n: Path): string => out.mbps[n].length > r ? `${out.mbps[n][r]!.toFixed(0)} MB/s ${out.cpu[n][r]!.toFixed(1)}/${out.srvCpu[n][r]!.toFixed(1)} CPU-s/GB` : '-'
      log(`run ${r + 1}/${runs}: plain ${show('plain')}, psk (${p.cipher}) ${show('psk')}, psk (js) ${show('pskJs')} (${mb} MiB each)`)
    }
  } finally {
    await Promise.allSettled(nets.map(async n => { await n.stop() }))
    await stopServer(child, 5000)
    rmSync(dir, { recursive: true, force: true })
  }
  return out
}

async function freePort (): Promise<number> {
  const { createServer } = await import('node:net')
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => { resolve(port) })
    })
  })
}

async function waitFor (fn: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (fn()) return true
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  return false
}

async function rotation (nodes: number, rotations: number): Promise<{ allMs: number[], rotateCallMs: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), `dmsnet-bench-swarm-rot-${process.pid}-`))
  const logger = createLogger('swarm', 'warn')
  const all: Array<{ net: Network, swarm: SwarmManager }> = []
  const res = { allMs: [] as number[], rotateCallMs: [] as number[] }
  try {
    for (let i = 0; i < nodes; i++) {
      const config = benchConfig(join(dir, String(i)), await freePort())
      const privateKey = await generateKeyPair('Ed25519')
      const net = await createNetwork({ config, privateKey })
      await net.start()
      const swarm = await createSwarmManager({ network: net, config, logger, privateKey, keyServiceListen: ['/ip4/127.0.0.1/tcp/0'], rejoinTimeoutMs: 5000, watchdogIntervalMs: 2000 })
      await swarm.start()
      all.push({ net, swarm })
    }
    const [creator, ...members] = all as [typeof all[0], ...typeof all]
    const st = await creator.swarm.create('bench', members.map(m => m.net.peerId.toString()))
    const creatorId = creator.net.peerId.toString()
    await Promise.all(members.map(async m => await m.swarm.join(st.keyService[0]!)))
    const inAll = await waitFor(() => members.every(m => m.net.isConnected(creatorId)), 20_000)
    if (!inAll) throw new Error(`not every member connected to the creator within 20 s of joining`)
    log(`${nodes} nodes in swarm`)
    for (let r = 0; r < rotations; r++) {
      const t0 = performance.now()
      const rr = await creator.swarm.rotate()
      res.rotateCallMs.push(performance.now() - t0)
      const ok = await waitFor(() => members.every(m => m.swarm.status().epoch === rr.epoch && m.net.isConnected(creatorId)), 60_000)
      const ms = performance.now() - t0
      log(`rotation ${r + 1}/${rotations}: epoch ${rr.epoch}, delivered ${rr.delivered.length}/${members.length}, all members back in ${ms.toFixed(0)} ms${ok ? '' : ' (TIMED OUT)'}`)
      // a rotation that never completed has no duration: it fails the benchmark, it is not a data point
      if (!ok) throw new Error(`rotation ${r + 1}: not every member was on epoch ${rr.epoch} and connected to the creator within 60 s`)
      res.allMs.push(ms)
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  } finally {
    await Promise.allSettled(all.map(async n => { await n.swarm.stop(); await n.net.stop() }))
    rmSync(dir, { recursive: true, force: true })
  }
  return res
}

/** min/median/max of a[i] / b[i] over the runs, two decimals (the caller checks both were measured). */
function ratioStats (a: number[], b: number[]): { min: number, median: number, max: number } {
  const r = a.map((x, i) => x / b[i]!)
  return { min: round(Math.min(...r), 2), median: round(median(r), 2), max: round(Math.max(...r), 2) }
}

async function main (): Promise<void> {
  if (process.argv.includes('--server')) { await server(); return }
  const runs = arg('runs', 3)
  const mb = arg('mb', 128)
  const { mbps: tp, cpu, srvCpu, srvMain, srvRing, cipher } = await throughput(runs, mb)
  const rotations = arg('rotations', 3, true)
  const rot = rotations > 0 ? await rotation(arg('nodes', 10), rotations) : undefined
  const result = {
    bench: 'swarm',
    // MB/s (10^6 bytes per second), the unit bench/stream uses for libp2p_mbps
    psk_mbps: round(median(tp.psk)),
    plain_mbps: round(median(tp.plain)),
    psk_mbit_s: round(median(tp.psk) * 8),
    plain_mbit_s: round(median(tp.plain) * 8),
    psk_MBps: stats(tp.psk),
    plain_MBps: stats(tp.plain),
    psk_vs_plain: round(median(tp.psk) / median(tp.plain), 2),
    // the ratio within each run (same moment, same load): its spread says how steady the median is
    psk_vs_plain_per_run: tp.psk.length > 0 && tp.psk.length === tp.plain.length ? ratioStats(tp.psk, tp.plain) : null,
    psk_cipher: cipher,
    // the sender's CPU seconds per GB sent (client process only), medians
    plain_cpu_s_per_gb: round(median(cpu.plain), 2),
    psk_cpu_s_per_gb: round(median(cpu.psk), 2),
    psk_js_cpu_s_per_gb: round(median(cpu.pskJs), 2),
    // the receiver's CPU seconds per GB (server process, first byte to last), medians: the
    // receiving side is the one that sets the rate
    plain_server_cpu_s_per_gb: round(median(srvCpu.plain), 2),
    psk_server_cpu_s_per_gb: round(median(srvCpu.psk), 2),
    psk_js_server_cpu_s_per_gb: round(median(srvCpu.pskJs), 2),
    // the receiver's main-thread CPU seconds per GB, medians: with the keystream computed ahead on
    // another thread the process's CPU stays, the event loop's share falls
    plain_server_main_cpu_s_per_gb: round(median(srvMain.plain), 2),
    psk_server_main_cpu_s_per_gb: round(median(srvMain.psk), 2),
    // the share of the receiver's keystream batches taken from the generator's rings (the rest: inline)
    psk_server_ring_share: round(median(srvRing.psk), 2),
    // the pure JavaScript cipher (the fallback, and the path before libsodium), same run
    psk_js_mbps: round(median(tp.pskJs)),
    psk_js_MBps: stats(tp.pskJs),
    psk_js_vs_plain: round(median(tp.pskJs) / median(tp.plain), 2),
    ...(rot != null
      ? { rotate_all10_ms: round(median(rot.allMs)), rotate_all_ms: stats(rot.allMs), rotate_call_ms: stats(rot.rotateCallMs), rotate_timeouts: 0 }
      : {}),
    nodes: arg('nodes', 10),
    runs,
    mb_per_run: mb
  }
  writeJsonLine(result)
}

main().then(() => { process.exit(0) }, (err) => { log(`failed: ${(err as Error).stack ?? String(err)}`); writeJsonLine({ bench: 'swarm', error: String(err) }); process.exit(1) })

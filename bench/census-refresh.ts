/**
 * What one kad-dht routing-table refresh costs (issue 10): every node runs one every 5 minutes
 * (one lookup per common-prefix length, ~7 at 100 nodes, each asking ~10 peers for their k
 * closest), and one landing in the 30-s idle window of the N=100 scale run puts a node over 1 %.
 * `--nodes` in-process network nodes (`createNetwork`, DHT servers on loopback) in this process;
 * when their routing tables are full, node 0's refresh is forced `--rounds` times. Per round: the
 * process's CPU (node 0's lookups plus every node's answers) and node 0's peer-store writes and
 * skipped merges (src/network/peer-store-writes.ts). `--root <dir>` runs another checkout's build
 * (its dist/) for a before/after: run both alternately.
 *
 * Usage: npm run bench -- census-refresh [--nodes 16] [--rounds 4] [--root <checkout>]
 * Progress on stderr; stdout: one JSON line (`cpu_ms` per round, `cpu_ms_median`, `written`, `skipped`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { numArg, progress, writeJsonLine } from './_lib/process.js'
import { median } from './_lib/stats.js'

const log = progress('census-refresh')
const NODES = numArg('nodes', 16)
const ROUNDS = numArg('rounds', 4)
const rootArg = process.argv.indexOf('--root')
const ROOT = rootArg >= 0 ? resolve(process.argv[rootArg + 1]!) : resolve(dirname(fileURLToPath(import.meta.url)), '../..')

interface RefreshLike {
  _maxCommonPrefix(): number
  _getTrackedCommonPrefixLengthsForRefresh(max: number): Date[]
  _refreshCommonPrefixLength(cpl: number, last: Date, force: boolean): Promise<void>
}
interface NetLike {
  start(): Promise<void>
  stop(): Promise<void>
  dial(addr: unknown): Promise<unknown>
  host: { getMultiaddrs(): unknown[], peerStore: object, services: { dht: { routingTable: { size: number }, routingTableRefresh: RefreshLike } } }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function main (): Promise<void> {
  const dist = join(ROOT, 'dist/src')
  const { loadConfig } = await import(join(dist, 'config/index.js')) as { loadConfig: (o: unknown) => unknown }
  const { createNetwork } = await import(join(dist, 'network/network.js')) as { createNetwork: (o: unknown) => Promise<NetLike> }
  const { peerStoreWritesStats } = await import(join(dist, 'network/peer-store-writes.js')) as { peerStoreWritesStats: (s: object) => { written: number, skipped: number } | undefined }
  const base = mkdtempSync(join(tmpdir(), 'dmsnet-census-refresh-'))
  const nets: NetLike[] = []
  try {
    for (let i = 0; i < NODES; i++) {
      const config = loadConfig({ base: { dataDir: join(base, `n${i}`), logging: { level: 'error' }, network: { listen: ['/ip4/127.0.0.1/tcp/0'], dht: { mode: 'server', addressFilter: 'all' }, autonat: { enabled: false }, dcutr: { enabled: false }, relay: { client: false }, mdns: { enabled: false }, connectionManager: { minConnections: 0 } } } })
      const net = await createNetwork({ config })
      await net.start()
      nets.push(net)
      // node 0 and two random earlier nodes: the DHT fills the rest
      for (const j of new Set([0, Math.floor(Math.random() * i), Math.floor(Math.random() * i)])) {
        if (j < i) await net.dial(nets[j]!.host.getMultiaddrs()[0]).catch(() => {})
      }
    }
    const rt = (n: NetLike): number => n.host.services.dht.routingTable.size
    const t0 = Date.now()
    while (Date.now() - t0 < 60_000 && nets.some(n => rt(n) < Math.min(5, NODES - 1))) await sleep(500)
    await sleep(5000)
    log(`${NODES} nodes (${ROOT}), routing tables ${Math.min(...nets.map(rt))}-${Math.max(...nets.map(rt))}`)
    const ref = nets[0]!.host.services.dht.routingTableRefresh
    const stats = peerStoreWritesStats(nets[0]!.host.peerStore)
    const rounds: Array<{ cpls: number, cpuMs: number, written: number, skipped: number }> = []
    for (let r = 0; r < ROUNDS; r++) {
      const s0 = { written: stats?.written ?? 0, skipped: stats?.skipped ?? 0 }
      const c0 = process.cpuUsage()
      const cpls = ref._getTrackedCommonPrefixLengthsForRefresh(ref._maxCommonPrefix())
      await Promise.all(cpls.map(async (_, i) => { await ref._refreshCommonPrefixLength(i, new Date(0), true).catch(() => {}) }))
      const c = process.cpuUsage(c0)
      rounds.push({ cpls: cpls.length, cpuMs: Math.round((c.user + c.system) / 1000), written: (stats?.written ?? 0) - s0.written, skipped: (stats?.skipped ?? 0) - s0.skipped })
      log(`round ${r + 1}: ${JSON.stringify(rounds[r])}`)
    }
    writeJsonLine({ root: ROOT, nodes: NODES, cpu_ms: rounds.map(x => x.cpuMs), cpu_ms_median: median(rounds.map(x => x.cpuMs)), cpls: rounds[0]?.cpls, written: rounds.map(x => x.written), skipped: rounds.map(x => x.skipped) })
  } finally {
    await Promise.allSettled(nets.map(async n => { await n.stop() }))
    rmSync(base, { recursive: true, force: true })
  }
}

main().then(() => { process.exit(0) }, (err: Error) => {
  console.error(`census-refresh failed: ${err.stack ?? err.message}`)
  process.exit(1)
})

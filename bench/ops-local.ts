/**
 * `npm run bench -- ops-local`: CPU and socket writes per DHT lookup, per new connection and per
 * gossip message, for `--nodes` dmsnet networks (`createNetwork`, as the daemon builds its host) in
 * this one process on loopback: a light, short before/after of the host's byte-path and lookup
 * changes, switched through their environment variables (e.g. `DMSNET_BATCH_SENDS=0
 * DMSNET_LAZY_SELECT=0 DMSNET_DHT_DIRECT=0` for the code without them), one process per setting.
 * `bench ops` measures the same on real daemons against another build.
 *
 * Every node is connected to every other, all subscribed to one gossipsub topic. Then `--rounds`
 * rounds of: `--idle` s idle (the process's idle CPU rate, taken off each batch), `--lookups` DHT
 * lookups between connected pairs (`findPeer`, network query), `--dials` pairs hung up 300 ms
 * apart (kad-dht tags its closest peers keep-alive, and in a network this small that is everyone,
 * so libp2p dials each again at once: a close and a new connection at both ends; 2 s after for the
 * new connection's follow-up work; `extra` = pairs connected again), `--gossip` messages from
 * random nodes `--interval` ms apart, until each reached every node. Per batch: process CPU (user + system) per operation, and socket writes
 * per operation (counted at `net.Socket`'s write and writev).
 *
 * Usage: [env] npm run bench -- ops-local [--nodes 8] [--rounds 3] [--lookups 30] [--dials 10]
 *        [--gossip 30] [--interval 100] [--idle 3] [--label name] [--only lookup,reconnect,gossip]
 * Progress on stderr; stdout: one JSON line (per batch: min / median / max over rounds).
 */
import { Socket } from 'node:net'
import { loadavg } from 'node:os'
import { loadConfig } from '../src/config/index.js'
import { createNetwork } from '../src/network/network.js'
import type { Network } from '../src/network/types.js'
import { tempDir, testConfig } from '../test/network/helpers.js'
import { progress, strArg, writeJsonLine } from './_lib/process.js'
import { median, minMedianMax, round } from './_lib/stats.js'
import { opsArgs, sleep } from './_lib/ops-args.js'

const log = progress('ops-local')
const { nodes: NODES, rounds: ROUNDS, lookups: LOOKUPS, dials: DIALS, gossip: GOSSIP, intervalMs: INTERVAL_MS, idleS: IDLE_S } =
  opsArgs({ nodes: 8, rounds: 3, lookups: 30, dials: 10, gossip: 30, intervalMs: 100, idleS: 3 })
const LABEL = strArg('label') ?? ''
/** `--only lookup,redial,gossip`: run only these batches */
const ONLY = (strArg('only') ?? 'lookup,reconnect,gossip').split(',')
const TOPIC = '/dmsnet-bench/ops-local'

let writes = 0
type Internal = (this: Socket, ...args: unknown[]) => unknown
const proto = Socket.prototype as unknown as { _write: Internal, _writev: Internal }
for (const k of ['_write', '_writev'] as const) {
  const fn = proto[k]
  proto[k] = function (this: Socket, ...args: unknown[]) { writes++; return fn.apply(this, args) }
}

interface Meter { cpuMs: number, writes: number, at: number }
const meter = (): Meter => { const u = process.cpuUsage(); return { cpuMs: (u.user + u.system) / 1000, writes, at: performance.now() } }

function seeded (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}
function pick (n: number, random: () => number): [number, number] {
  const a = Math.floor(random() * n)
  let b = Math.floor(random() * (n - 1))
  if (b >= a) b++
  return [a, b]
}

async function lookup (a: Network, b: Network): Promise<{ found: boolean, queries: number }> {
  let queries = 0
  try {
    for await (const ev of a.dht.findPeer(b.peerId, { useCache: false, signal: AbortSignal.timeout(20_000) })) {
      if (ev.name === 'SEND_QUERY') queries++
      if (ev.name === 'FINAL_PEER') return { found: true, queries }
    }
  } catch {
    // not found, or timed out: counted as not found
  }
  return { found: false, queries }
}

async function main (): Promise<void> {
  const nets: Network[] = []
  const dirs: Array<{ cleanup: () => void }> = []
  const got: Array<Set<string>> = []
  try {
    for (let i = 0; i < NODES; i++) {
      const d = tempDir('dmsnet-ops-')
      dirs.push(d)
      // the test nodes' configuration, and DMSNET_* variables on top (e.g. gossipsub's degrees)
      const config = loadConfig({ base: testConfig(d.dir) as unknown as Record<string, unknown>, env: process.env, flags: { 'network.connectionManager.minConnections': 0 } })
      const net = await createNetwork({ config })
      await net.start()
      nets.push(net)
      const seen = new Set<string>()
      got.push(seen)
      net.pubsub.subscribe(TOPIC)
      net.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === TOPIC) seen.add(new TextDecoder().decode(evt.detail.data)) })
    }
    for (let i = 0; i < NODES; i++) for (let j = i + 1; j < NODES; j++) await nets[i]!.dial(nets[j]!.host.getMultiaddrs()[0]!)
    const tableSize = (n: Network): number => (n.dht as unknown as { routingTable: { size: number } }).routingTable.size
    for (let t = 0; t < 100 && !nets.every(n => tableSize(n) >= NODES - 1); t++) await sleep(200)
    await sleep(3000)

    const batches: Record<string, Array<{ cpuMsPerOp: number, writesPerOp: number, extra?: number }>> = {}
    const add = (k: string, a: Meter, b: Meter, idleCpuMsPerS: number, idleWritesPerS: number, ops: number, extra?: number): void => {
      const s = (b.at - a.at) / 1000
      ;(batches[k] ??= []).push({ cpuMsPerOp: round((b.cpuMs - a.cpuMs - idleCpuMsPerS * s) / ops, 2), writesPerOp: round((b.writes - a.writes - idleWritesPerS * s) / ops, 1), ...(extra != null ? { extra } : {}) })
    }
    for (let r = 0; r < ROUNDS; r++) {
      const random = seeded(7 + r)
      const i0 = meter()
      await sleep(IDLE_S * 1000)
      const i1 = meter()
      const idleS = (i1.at - i0.at) / 1000
      const idleCpu = (i1.cpuMs - i0.cpuMs) / idleS
      const idleW = (i1.writes - i0.writes) / idleS

      let a = meter()
      const qs: number[] = []
      for (let k = 0; k < (ONLY.includes('lookup') ? LOOKUPS : 0); k++) {
        const [x, y] = pick(NODES, random)
        const l = await lookup(nets[x]!, nets[y]!)
        if (!l.found) log(`lookup ${x} -> ${y} found nothing`)
        qs.push(l.queries)
      }
      if (qs.length > 0) add('lookup', a, meter(), idleCpu, idleW, LOOKUPS, median(qs))

      // a connection closed and made again: the nodes here are all among each other's closest
      // peers, which kad-dht tags keep-alive, so libp2p dials a closed one again at once (both
      // ends pay the close, TCP, Noise, yamux, identify, gossipsub's and kad-dht's work on a new peer)
      const pairs = Array.from({ length: ONLY.includes('reconnect') ? DIALS : 0 }, () => pick(NODES, random))
      a = meter()
      for (const [x, y] of pairs) {
        await nets[x]!.host.hangUp(nets[y]!.peerId).catch(() => {})
        await sleep(300)
      }
      await sleep(2000)
      const back = pairs.filter(([x, y]) => nets[x]!.host.getConnections(nets[y]!.peerId).length > 0).length
      if (pairs.length > 0) add('reconnect', a, meter(), idleCpu, idleW, DIALS, back)
      for (const [x, y] of pairs) await nets[x]!.dial(nets[y]!.host.getMultiaddrs()[0]!).catch(() => {})
      await sleep(500)

      a = meter()
      const ids: Array<{ id: string, from: number }> = []
      for (let m = 0; m < (ONLY.includes('gossip') ? GOSSIP : 0); m++) {
        const from = Math.floor(random() * NODES)
        const id = `r${r}m${m}`
        await nets[from]!.pubsub.publish(TOPIC, new TextEncoder().encode(id))
        ids.push({ id, from })
        await sleep(INTERVAL_MS)
      }
      const delivered = (): number => ids.reduce((s, x) => s + got.filter((g, i) => i !== x.from && g.has(x.id)).length, 0)
      for (let t = 0; t < 100 && delivered() < ids.length * (NODES - 1); t++) await sleep(100)
      if (ids.length > 0) add('gossip', a, meter(), idleCpu, idleW, GOSSIP, round(delivered() / (ids.length * (NODES - 1)) * 100, 1))
      log(`${LABEL} round ${r + 1}: ${Object.entries(batches).map(([k, v]) => `${k} ${v[v.length - 1]!.cpuMsPerOp} ms, ${v[v.length - 1]!.writesPerOp} writes`).join('; ')} (load ${loadavg()[0]!.toFixed(1)})`)
    }
    writeJsonLine({
      bench: 'ops-local',
      label: LABEL,
      nodes: NODES,
      switches: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('DMSNET_'))),
      load_avg_1m: round(loadavg()[0]!, 2),
      results: Object.fromEntries(Object.entries(batches).map(([k, v]) => [k, {
        cpu_ms_per_op: minMedianMax(v.map(b => b.cpuMsPerOp)),
        writes_per_op: minMedianMax(v.map(b => b.writesPerOp)),
        extra: v.map(b => b.extra)
      }]))
    })
  } finally {
    await Promise.allSettled(nets.map(async n => { await n.stop() }))
    for (const d of dirs) d.cleanup()
  }
}

main().catch((err: Error) => {
  process.stderr.write(`[ops-local] FAILED: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})

/**
 * `npm run bench -- ops`: what one DHT lookup, one gossip message and one connection cost in CPU and
 * socket writes, summed over every daemon of a small network (issue 10: at N=100 on 2 cores the
 * latency tails are the run queue, so the lever is the work per operation, wherever it lands).
 *
 * One network of `--nodes` real `dmsnet up` daemons on loopback per build: this build, and with
 * `--ab-cli <another build's dist/src/cli/main.js>` a second network of that build beside it (the
 * two never learn of each other: each bootstraps from its own first node). Every node is connected
 * to every other, subscribed to one topic through its control socket (as the scale bench does),
 * and left `--warmup` s to settle. Then `--rounds` rounds, the networks alternating their order;
 * per network and round, each batch measured on its own:
 *   idle      `--idle` s of nothing: the network's idle CPU rate, taken off every batch below
 *   lookup    `--lookups` DHT lookups (`node.dht.find-peer`, network query) one at a time, random
 *             pairs, all connected
 *   reconnect `--dials` random pairs disconnected (`node.disconnect`), 300 ms apart: kad-dht tags
 *             its closest peers keep-alive, in a network this small everyone, so libp2p dials each
 *             again at once: a close and a new connection at both ends (2 s after for the follow-up)
 *   gossip    `--gossip` messages from random nodes, `--interval` ms apart, until every node has each
 * A batch's cost: the CPU (utime + stime from /proc) of all the network's daemons over the batch,
 * less the idle rate times its duration, per operation; and their write syscalls (`syscw` of
 * /proc/<pid>/io: socket writes, the control socket's included) per operation, idle writes taken
 * off the same way. Every loop is bounded in count and time; everything started is stopped.
 *
 * Usage: npm run bench -- ops [--nodes 12] [--rounds 3] [--lookups 20] [--dials 8] [--gossip 20]
 *        [--interval 300] [--idle 8] [--warmup 30] [--ab-cli <path>] [--env "K=V ..."] [--ab-env "K=V ..."]
 * Progress on stderr; stdout: one JSON line (per build: each batch's per-op figures per round, and
 * min / median / max over rounds).
 */
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { createControlClient, type ControlClient } from '../src/control/index.js'
import { BenchDaemon } from './_lib/daemons.js'
import { envArg, numArg, progress, strArg, writeJsonLine } from './_lib/process.js'
import { median, minMedianMax, round } from './_lib/stats.js'
import { opsArgs, sleep } from './_lib/ops-args.js'
import { cpuTicks, drain, pollUntil } from './_lib/scale-util.js'

const log = progress('ops')
const { nodes: NODES, rounds: ROUNDS, lookups: LOOKUPS, dials: DIALS, gossip: GOSSIP, intervalMs: INTERVAL_MS, idleS: IDLE_S } =
  opsArgs({ nodes: 12, rounds: 3, lookups: 20, dials: 8, gossip: 20, intervalMs: 300, idleS: 8 })
const WARMUP_S = numArg('warmup', 30, true)
const AB_CLI = strArg('ab-cli')
/** environment for this build's daemons, and for the other build's */
const ENV = envArg('env')
const AB_ENV = envArg('ab-env')
const TOPIC = '/dmsnet-bench/ops'

if (NODES < 4) { process.stderr.write('[ops] --nodes must be >= 4\n'); process.exit(2) }

/** Every daemon: a DHT server (loopback is not a public address), no mDNS (the two networks must not meet). */
const BASE_ENV = { DMSNET_NETWORK_DHT_MODE: 'server', DMSNET_NETWORK_MDNS_ENABLED: 'false' }

interface Net {
  name: string
  daemons: BenchDaemon[]
  clients: ControlClient[]
  /** messages seen per node: payload -> at */
  got: Array<Map<string, number>>
  subs: AbortController
  subsDone: Promise<void>[]
}

/** write syscalls of a process so far (0 when unreadable) */
function writes (pid: number): number {
  try { return Number(/^syscw:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0) } catch { return 0 }
}

interface Meter { ticks: number, writes: number, at: number }
function meter (net: Net): Meter {
  let ticks = 0
  let w = 0
  for (const d of net.daemons) { ticks += cpuTicks(d.pid) ?? 0; w += writes(d.pid) }
  return { ticks, writes: w, at: performance.now() }
}

interface Rate { cpuMsPerS: number, writesPerS: number }
interface Batch { cpuMsPerOp: number, writesPerOp: number, ops: number, seconds: number, latencyMsP50?: number, note?: string }

function perOp (a: Meter, b: Meter, idle: Rate, ops: number): Batch {
  const s = (b.at - a.at) / 1000
  const cpuMs = (b.ticks - a.ticks) * 10 - idle.cpuMsPerS * s
  const w = (b.writes - a.writes) - idle.writesPerS * s
  return { cpuMsPerOp: round(cpuMs / ops, 2), writesPerOp: round(w / ops, 1), ops, seconds: round(s, 1) }
}

async function startNet (name: string, cli: string | undefined, env: Record<string, string>): Promise<Net> {
  const daemons: BenchDaemon[] = []
  const net: Net = { name, daemons, clients: [], got: [], subs: new AbortController(), subsDone: [] }
  for (let i = 0; i < NODES; i++) {
    const boot = daemons.slice(0, 3).flatMap(b => ['--bootstrap', b.listen])
    const d = new BenchDaemon({ name: `${name}${i}`, args: ['--listen', '/ip4/127.0.0.1/tcp/0', ...boot], env: { ...BASE_ENV, ...env }, ...(cli != null ? { cli } : {}) })
    daemons.push(d)
    await d.start()
    net.clients.push(createControlClient({ socket: join(d.dir, 'control.sock') }))
  }
  // every pair connected: the lookup batch then measures queries, not dials
  for (let i = 0; i < NODES; i++) {
    for (let j = i + 1; j < NODES; j++) {
      await net.clients[i]!.call('node.connect', { target: `${daemons[j]!.listen}` }).catch((err: Error) => { log(`${name}: connect ${i} -> ${j}: ${err.message}`) })
    }
  }
  for (let i = 0; i < NODES; i++) {
    const got = new Map<string, number>()
    net.got.push(got)
    net.subsDone.push(drain(net.clients[i]!.stream('messaging.subscribe', { topic: TOPIC }, { signal: net.subs.signal }), net.subs.signal,
      m => { if (!got.has(m.payload)) got.set(m.payload, m.at) }, e => { log(`${name}${i}: subscription failed: ${e.message}`) }))
  }
  return net
}

async function stopNet (net: Net): Promise<void> {
  net.subs.abort()
  await Promise.allSettled(net.subsDone)
  await Promise.allSettled(net.daemons.map(async d => { await d.stop() }))
}

function pick (n: number, random: () => number): [number, number] {
  const a = Math.floor(random() * n)
  let b = Math.floor(random() * (n - 1))
  if (b >= a) b++
  return [a, b]
}

/** A small seeded generator, so that both builds get the same pairs and publishers. */
function seeded (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

async function lookups (net: Net, pairs: Array<[number, number]>): Promise<{ ms: number[], queries: number[], found: number }> {
  const ms: number[] = []
  const queries: number[] = []
  let found = 0
  for (const [a, b] of pairs) {
    const r = await net.clients[a]!.call('node.dht.find-peer', { peer: net.daemons[b]!.peerId, timeoutMs: 20_000 })
      .catch((err: Error) => ({ found: false, ms: 0, queries: undefined, error: err.message }))
    if (r.found) { found++; ms.push(r.ms) }
    if (r.queries != null) queries.push(r.queries)
  }
  return { ms, queries, found }
}

async function gossip (net: Net, count: number, tag: string, random: () => number): Promise<number> {
  const ids: Array<{ id: string, from: number }> = []
  for (let m = 0; m < count; m++) {
    const from = Math.floor(random() * NODES)
    const id = `${tag}-${m}`
    await net.clients[from]!.call('messaging.publish', { topic: TOPIC, type: 'ops', payload: id })
    ids.push({ id, from })
    await sleep(INTERVAL_MS)
  }
  const delivered = (): number => ids.reduce((s, x) => s + net.got.filter((g, i) => i !== x.from && g.has(x.id)).length, 0)
  await pollUntil(async () => delivered() >= ids.length * (NODES - 1), 15_000, 100)
  return delivered() / (ids.length * (NODES - 1))
}

type Results = Record<string, Record<string, Batch[]>>

async function round$ (net: Net, r: number, results: Results): Promise<void> {
  const res = (results[net.name] ??= {})
  const add = (k: string, b: Batch): void => { (res[k] ??= []).push(b) }
  const random = seeded(1000 + r)
  const i0 = meter(net)
  await sleep(IDLE_S * 1000)
  const i1 = meter(net)
  const idleS = (i1.at - i0.at) / 1000
  const idle: Rate = { cpuMsPerS: (i1.ticks - i0.ticks) * 10 / idleS, writesPerS: (i1.writes - i0.writes) / idleS }
  add('idle', { cpuMsPerOp: round(idle.cpuMsPerS / NODES, 2), writesPerOp: round(idle.writesPerS / NODES, 1), ops: NODES, seconds: round(idleS, 1), note: 'per daemon per second' })

  const pairs = Array.from({ length: LOOKUPS }, () => pick(NODES, random))
  let a = meter(net)
  const l = await lookups(net, pairs)
  add('lookup', { ...perOp(a, meter(net), idle, pairs.length), latencyMsP50: round(median(l.ms), 1), note: `found ${l.found}/${pairs.length}, queries median ${median(l.queries)}` })

  // a connection closed and made again: in a network this small every node is among every other's
  // closest peers, which kad-dht tags keep-alive, so libp2p dials a closed one again at once
  const dialPairs = Array.from({ length: DIALS }, () => pick(NODES, random))
  a = meter(net)
  for (const [x, y] of dialPairs) {
    await net.clients[x]!.call('node.disconnect', { peer: net.daemons[y]!.peerId }).catch(() => {})
    await sleep(300)
  }
  // the new connections' follow-up work (identify, gossipsub's streams, kad-dht's table)
  await sleep(2000)
  add('reconnect', perOp(a, meter(net), idle, dialPairs.length))
  // every pair connected again for the next round
  for (const [x, y] of dialPairs) await net.clients[x]!.call('node.connect', { target: net.daemons[y]!.listen }).catch(() => {})
  await sleep(1000)

  a = meter(net)
  const delivery = await gossip(net, GOSSIP, `r${r}`, random)
  add('gossip', { ...perOp(a, meter(net), idle, GOSSIP), note: `delivery ${round(delivery * 100, 1)}%` })
  log(`${net.name} round ${r + 1}: ${Object.entries(res).map(([k, v]) => `${k} ${v[v.length - 1]!.cpuMsPerOp} ms / ${v[v.length - 1]!.writesPerOp} writes`).join(', ')} (load ${loadavg()[0]!.toFixed(1)})`)
}

async function main (): Promise<void> {
  const nets: Net[] = []
  const stopAll = async (): Promise<void> => { await Promise.allSettled(nets.map(stopNet)) }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { void stopAll().finally(() => process.exit(1)) })
  const load0 = loadavg()[0]!
  try {
    log(`starting ${NODES} daemons of this build${AB_CLI != null ? ` and ${NODES} of ${AB_CLI}` : ''}`)
    nets.push(await startNet('this', undefined, ENV))
    if (AB_CLI != null) nets.push(await startNet('base', AB_CLI, AB_ENV))
    log(`all connected; warm-up ${WARMUP_S} s`)
    await sleep(WARMUP_S * 1000)
    // meshes formed: one message reaches everyone
    for (const net of nets) {
      let w = 0
      const ok = await pollUntil(async () => (await gossip(net, 1, `warm${w++}`, Math.random)) >= 1, 60_000, 500)
      if (!ok) log(`${net.name}: not every node got a warm-up message`)
    }
    const results: Results = {}
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? nets : [...nets].reverse()
      for (const net of order) await round$(net, r, results)
    }
    const summary: Record<string, Record<string, unknown>> = {}
    for (const [name, batches] of Object.entries(results)) {
      summary[name] = Object.fromEntries(Object.entries(batches).map(([k, v]) => [k, {
        cpu_ms_per_op: minMedianMax(v.map(b => b.cpuMsPerOp)),
        writes_per_op: minMedianMax(v.map(b => b.writesPerOp)),
        rounds: v
      }]))
    }
    writeJsonLine({ bench: 'ops', nodes: NODES, rounds: ROUNDS, ab_cli: AB_CLI ?? null, load_avg_1m: [round(load0, 2), round(loadavg()[0]!, 2)], results: summary })
  } finally {
    await stopAll()
  }
}

main().catch((err: Error) => {
  process.stderr.write(`[ops] FAILED: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})

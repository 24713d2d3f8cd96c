/**
 * Benchmark: dmsnet messaging next to a bare libp2p stream, two processes over loopback, same run.
 *
 * - req_rtt: `request()` round trip (64-byte payload, signed envelope, verify, handler, response)
 *   on an open messaging stream, one at a time.
 * - bare_rtt: 64 bytes echoed on a bare libp2p stream of the same hosts (the floor).
 * - acked_msgs_per_s: `sendMessage()` with up to `maxInFlight` outstanding, each resolved by
 *   its acknowledgement (verified + handler accepted); and the same one at a time.
 * - bare_round_trips_per_s: the bare echo's round trips per second one at a time, counted the same
 *   way as the sequential acked rate (count / elapsed, so tails weigh in on both sides).
 * - targets (issue 13): req_rtt_p50_us <= 1.3 x bare_rtt_p50_us; acked_msgs_per_s >= 4 x 1e6 /
 *   bare_rtt_p50_us; acked_sequential_msgs_per_s >= 0.8 x bare_round_trips_per_s. `targets`
 *   in the JSON line gives each bound from this run and whether it was met.
 * - client_cpu_us_per_request / _echo: the client process's CPU time per round trip (user +
 *   system), request vs bare echo: the sender's share of what messaging adds.
 * - --signed: every direct message signed (per-message signatures, the 1.0.0 way of working).
 * - gossip_all20: 20 in-process nodes (sparse mesh), time from `publish()` until all 19 others
 *   delivered the verified message.
 *
 * Usage: npm run bench -- messaging [--runs 5] [--pings 1000] [--msgs 5000] [--gossip 30] [--signed]
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { createMessaging, type Messaging } from '../src/messaging/index.js'
import { createNetwork } from '../src/network/network.js'
import type { Network } from '../src/network/types.js'
import { echoHandler, echoRtt, loopbackConfig } from './_lib/libp2p.js'
import { numArg as arg, progress, serverAnnouncement, spawnServer, stdinClosed, stopServer, writeJsonLine } from './_lib/process.js'
import { median, minMedianMax as mms, percentile, round } from './_lib/stats.js'

const ECHO = '/dmsnet-bench/msg-echo/1.0.0'
const SIZE = 64

const log = progress('messaging')

interface BenchNode { net: Network, messaging: Messaging, dir: string, key: PrivateKey }

async function startBenchNode (): Promise<BenchNode> {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-bench-msg-'))
  const config = loopbackConfig(dir)
  const key = await generateKeyPair('Ed25519')
  const net = await createNetwork({ config, privateKey: key })
  await net.start()
  const messaging = createMessaging({ network: net, privateKey: key, config: { maxInFlight: 256 } })
  await messaging.start()
  return { net, messaging, dir, key }
}

async function stopBenchNode (n: BenchNode): Promise<void> {
  await n.messaging.stop()
  await n.net.stop()
  rmSync(n.dir, { recursive: true, force: true })
}

// ---------------------------------------------------------------- server side

async function server (): Promise<void> {
  const n = await startBenchNode()
  n.messaging.registerHandler('bench.req', (m) => m.payload)
  n.messaging.registerHandler('bench.msg', () => {})
  await n.net.handle(ECHO, echoHandler, { maxInboundStreams: 16 })
  writeJsonLine({ addr: n.net.host.getMultiaddrs()[0]!.toString(), peerId: n.net.peerId.toString() })
  await stdinClosed()
  await stopBenchNode(n)
  process.exit(0)
}

// ---------------------------------------------------------------- client side

async function bareRtt (net: Network, addr: string, n: number): Promise<number[]> {
  return await echoRtt(net, addr, ECHO, SIZE, n)
}

/** Per-message signatures on every direct message (`--signed`), else the default (compact on 2.0.0). */
const SEND_OPTS = process.argv.includes('--signed') ? { signed: true } : {}

async function reqRtt (m: Messaging, peer: string, n: number): Promise<number[]> {
  const payload = new Uint8Array(SIZE).fill(2)
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await m.request(peer, 'bench.req', payload, SEND_OPTS)
    out.push(Number(process.hrtime.bigint() - t0) / 1e3)
  }
  return out
}

async function ackedRate (m: Messaging, peer: string, n: number, window: number): Promise<number> {
  const payload = new Uint8Array(SIZE).fill(3)
  let next = 0
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: window }, async () => {
    while (next < n) {
      next++
      await m.sendMessage(peer, 'bench.msg', payload, SEND_OPTS)
    }
  }))
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

async function gossip20 (count: number, deadlineAt: number): Promise<number[]> {
  const N = 20
  const topic = '/dmsnet-bench/gossip'
  log(`gossip: starting ${N} in-process nodes`)
  const nodes: BenchNode[] = []
  try {
    for (let i = 0; i < N; i++) nodes.push(await startBenchNode())
    // sparse mesh: each node dials 3 others (ring + chords), ~60 connections
    for (let i = 0; i < N; i++) {
      for (const d of [1, 2, 7]) await nodes[i]!.net.dial(nodes[(i + d) % N]!.net.host.getMultiaddrs()[0]!)
    }
    const arrivals = new Map<number, number[]>()
    for (const n of nodes) {
      n.messaging.subscribe(topic, (m) => {
        const seq = new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0)
        arrivals.get(seq)?.push(performance.now())
      })
    }
    // wait until every node sees its neighbours' subscriptions and the mesh has formed
    const ready = Date.now() + 20_000
    while (Date.now() < ready && !nodes.every(n => n.net.host.services.pubsub.getSubscribers(topic).length >= 3)) {
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    await new Promise(resolve => setTimeout(resolve, 1500)) // a heartbeat or so to graft meshes
    const out: number[] = []
    for (let s = 0; s < count && Date.now() < deadlineAt; s++) {
      const pub = nodes[s % N]!
      const payload = new Uint8Array(SIZE)
      new DataView(payload.buffer).setUint32(0, s)
      arrivals.set(s, [])
      const t0 = performance.now()
      await pub.messaging.publish(topic, 'bench', payload)
      const end = Date.now() + 5000
      while (arrivals.get(s)!.length < N - 1 && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 1))
      const got = arrivals.get(s)!
      // an undelivered message has no latency: it fails the benchmark rather than leave the median
      if (got.length < N - 1) throw new Error(`gossip message ${s}: only ${got.length}/${N - 1} delivered within 5 s`)
      out.push(Math.max(...got) - t0)
    }
    return out
  } finally {
    for (const n of nodes) await stopBenchNode(n).catch(() => {})
  }
}

async function client (): Promise<void> {
  const runs = arg('runs', 5)
  const pings = arg('pings', 1000)
  const msgs = arg('msgs', 5000)
  const gossipCount = arg('gossip', 30)
  const started = Date.now()
  const deadlineAt = started + 160_000
  const self = fileURLToPath(import.meta.url)
  const child = spawnServer(self)
  const killer = setTimeout(() => { log('time limit reached, stopping'); child.kill('SIGKILL'); process.exit(1) }, 175_000)
  killer.unref()
  const res = { req: [] as number[], bare: [] as number[], reqAll: [] as number[], bareAll: [] as number[], acked: [] as number[], seq: [] as number[], bareRate: [] as number[], cpuReq: [] as number[], cpuBare: [] as number[] }
  try {
    const info = await serverAnnouncement<{ addr: string, peerId: string }>(child)
    const me = await startBenchNode()
    await me.net.dial(info.addr)
    log(`server ${info.peerId}; ${runs} runs of ${pings} round trips and ${msgs} acked messages`)
    // warm-up: every path measured below, long enough for the JIT to settle (run 1 was slower)
    await reqRtt(me.messaging, info.peerId, 1000)
    await bareRtt(me.net, info.addr, 1000)
    await ackedRate(me.messaging, info.peerId, 2000, 256)
    await ackedRate(me.messaging, info.peerId, 500, 1)
    for (let r = 0; r < runs && Date.now() < deadlineAt - 60_000; r++) {
      // the client process's CPU per round trip: what the messaging layer adds on one side
      const c0 = process.cpuUsage()
      const q = await reqRtt(me.messaging, info.peerId, pings)
      const c1 = process.cpuUsage()
      const b = await bareRtt(me.net, info.addr, pings)
      const c2 = process.cpuUsage()
      res.cpuReq.push((c1.user + c1.system - c0.user - c0.system) / pings)
      res.cpuBare.push((c2.user + c2.system - c1.user - c1.system) / pings)
      res.req.push(median(q)); res.reqAll.push(...q)
      res.bare.push(median(b)); res.bareAll.push(...b)
      res.bareRate.push(b.length / (b.reduce((x, y) => x + y, 0) / 1e6))
      res.acked.push(await ackedRate(me.messaging, info.peerId, msgs, 256))
      res.seq.push(await ackedRate(me.messaging, info.peerId, Math.min(msgs, 2000), 1))
      log(`run ${r + 1}/${runs}: rtt us request ${round(res.req[r]!)} bare ${round(res.bare[r]!)}; acked msgs/s windowed ${round(res.acked[r]!, 0)} sequential ${round(res.seq[r]!, 0)} (bare echo ${round(res.bareRate[r]!, 0)}/s)`)
    }
    const st = me.messaging.stats()
    await stopBenchNode(me)
    child.stdin!.end()

    const g = await gossip20(gossipCount, deadlineAt)
    log(`gossip: ${g.length} messages reached all 19 others; p50 ${round(median(g), 2)} ms`)

    const bareP50 = median(res.bare)
    const bareRate = median(res.bareRate)
    const targets = {
      req_rtt_p50_max_us: round(1.3 * bareP50),
      acked_msgs_per_s_min: round(4e6 / bareP50, 0),
      acked_sequential_msgs_per_s_min: round(0.8 * bareRate, 0),
      met: {
        req_rtt: median(res.req) <= 1.3 * bareP50,
        acked: median(res.acked) >= 4e6 / bareP50,
        acked_sequential: median(res.seq) >= 0.8 * bareRate
      }
    }
    const result = {
      bench: 'messaging',
      signed: process.argv.includes('--signed'),
      runs: res.req.length,
      payload_bytes: SIZE,
      pings_per_run: pings,
      req_rtt_p50_us: round(median(res.req)),
      req_rtt_p99_us: round(percentile(res.reqAll, 0.99)),
      bare_rtt_p50_us: round(median(res.bare)),
      bare_rtt_p99_us: round(percentile(res.bareAll, 0.99)),
      req_vs_bare_rtt: round(median(res.req) / median(res.bare), 2),
      acked_msgs_per_s: round(median(res.acked), 0),
      acked_sequential_msgs_per_s: round(median(res.seq), 0),
      bare_round_trips_per_s: round(bareRate, 0),
      client_cpu_us_per_request: round(median(res.cpuReq)),
      client_cpu_us_per_echo: round(median(res.cpuBare)),
      acked_sequential_vs_bare_rate: round(median(res.seq) / bareRate, 2),
      targets,
      gossip_all20_p50_ms: g.length > 0 ? round(median(g), 2) : null,
      gossip_all20_p99_ms: g.length > 0 ? round(percentile(g, 0.99), 2) : null,
      gossip_messages: g.length,
      client_dropped: st.dropped,
      stats: { req_rtt_us: mms(res.req), bare_rtt_us: mms(res.bare), acked_msgs_per_s: mms(res.acked), acked_sequential_msgs_per_s: mms(res.seq), gossip_all20_ms: g.length > 0 ? mms(g) : null },
      elapsed_s: round((Date.now() - started) / 1000)
    }
    writeJsonLine(result)
  } finally {
    await stopServer(child)
    clearTimeout(killer)
  }
}

try {
  if (process.argv.includes('--server')) await server()
  else await client()
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`)
  writeJsonLine({ bench: 'messaging', error: String(err) })
  process.exit(1)
}

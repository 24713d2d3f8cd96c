/**
 * CPU per gossip message at a node with ~50 peers (issue 10): at N=100 every message makes most of
 * the daemons runnable at once on 2 cores, so what each spends per message is what the gossip
 * tail waits for. Hub daemons (`dmsnet up`, as in bench census-hub) and `--peers` in-process dmsnet
 * nodes in `--procs` helper processes (bench/_lib/census-peers.ts) all subscribe to one topic (the
 * hubs through their control API, as the scale bench's daemons do); after the warm-up, per round:
 * `--idle` s without traffic (each hub's idle CPU rate), then the first helper's first node
 * publishes `--messages` messages, one every `--interval` ms, and each hub's CPU over that window,
 * minus its idle rate, divided by the messages it delivered, is its CPU per message.
 *
 * A/B in the same run, on the same messages and peers: `--base-cli <dist/src/cli/main.js of another
 * build>` adds a hub ("base") from that build, and every other helper process runs that build's
 * peers (needs this census-peers.js copied into that build's dist/bench/_lib). `--window-prof <dir>`
 * adds a hub ("prof", unbundled) profiled through its inspector over the first round's publishing
 * and prints where its time went. Every hub runs with the idle reclaim off (its full collection
 * would land in some windows and not others); each round reports the hub's CPU by thread.
 *
 * Usage: npm run bench -- census-gossip [--peers 60] [--procs 2] [--warmup 90] [--rounds 3]
 *        [--messages 200] [--interval 50] [--idle 20] [--base-cli <cli>] [--window-prof <dir>]
 * Progress on stderr; stdout: one JSON line (`cpu_ms_per_msg` per hub: per round, min/median/max).
 * Fails (non-zero exit, with the reason) if a hub delivers fewer than 99 % of the messages.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createControlClient } from '../src/control/index.js'
import { BenchDaemon, metricSum } from './_lib/daemons.js'
import { numArg, progress, stopServer, writeJsonLine } from './_lib/process.js'
import { median, round } from './_lib/stats.js'
import { windowProfile } from './_lib/census-prof.js'
import { threadCpu, threadCpuPct } from './_lib/census-threads.js'
import { sliceProfiles } from './_lib/scale-profile.js'
import type { PhaseRecord } from './_lib/scale-phase.js'

const log = progress('census-gossip')
const PEERS = numArg('peers', 60)
const PROCS = numArg('procs', 2)
const WARMUP_S = numArg('warmup', 90, true)
const ROUNDS = numArg('rounds', 3)
const MESSAGES = numArg('messages', 200)
const INTERVAL_MS = numArg('interval', 50)
const IDLE_S = numArg('idle', 20)
const strArg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const BASE_CLI = strArg('base-cli')
const WINDOW_PROF = strArg('window-prof')
const BASE_PEERS = BASE_CLI != null ? resolve(dirname(BASE_CLI), '../../bench/_lib/census-peers.js') : undefined
const TOPIC = '/dmsnet-bench/census-gossip'

const here = dirname(fileURLToPath(import.meta.url))
const PEERS_SCRIPT = join(here, '_lib/census-peers.js')
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** utime + stime of a process, seconds (CLK_TCK 100). */
function procCpuS (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

interface Hub { d: BenchDaemon, got: number, abort: AbortController }

async function main (): Promise<void> {
  const hubs: Hub[] = []
  const helpers: ChildProcess[] = []
  const helperInfo: Array<{ build: 'new' | 'base', count: number }> = []
  const stopAll = async (): Promise<void> => {
    for (const h of hubs) h.abort.abort()
    await Promise.allSettled(helpers.map(async c => { await stopServer(c, 30_000) }))
    await Promise.allSettled(hubs.map(async h => { await h.d.stop() }))
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { void stopAll().finally(() => process.exit(1)) })
  }
  try {
    const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
    // the idle reclaim's full collection (src/daemon/memory-*.ts) lands in a window at random and
    // is several times a round's gossip work: off in every hub, so the rounds compare messages
    const env = { DMSNET_MEMORY_RECLAIM_ENABLED: 'false' }
    const daemons = [new BenchDaemon({ name: 'hub', args: listen, env })]
    if (BASE_CLI != null) daemons.push(new BenchDaemon({ name: 'base', args: listen, cli: BASE_CLI, env }))
    if (WINDOW_PROF != null) daemons.push(new BenchDaemon({ name: 'prof', args: listen, env: { ...env, DMSNET_BUNDLE: '0' } }))
    for (const d of daemons) {
      await d.start()
      const hub: Hub = { d, got: 0, abort: new AbortController() }
      hubs.push(hub)
      const client = createControlClient({ socket: join(d.dir, 'control.sock') })
      void (async () => {
        for await (const m of client.stream('messaging.subscribe', { topic: TOPIC }, { signal: hub.abort.signal })) {
          if ((m as { type?: string }).type === 'census') hub.got++
        }
      })().catch((err: Error) => { if (!hub.abort.signal.aborted) log(`${d.name}: subscription ended: ${err.message}`) })
    }
    const bootstrap = hubs.map(h => h.d.listen)
    log(`${hubs.length} hub(s) up and subscribed; starting ${PEERS} in-process peers in ${PROCS} processes`)
    const per = Math.ceil(PEERS / PROCS)
    const lines: Array<AsyncIterator<string>> = []
    for (let p = 0; p < PROCS; p++) {
      const count = Math.min(per, PEERS - p * per)
      if (count <= 0) break
      const build = BASE_PEERS != null && p % 2 === 1 ? 'base' : 'new'
      const child = spawn(process.execPath, [build === 'base' ? BASE_PEERS! : PEERS_SCRIPT, JSON.stringify({ count, bootstrap, startGapMs: 300, name: `g${p}`, topic: TOPIC })], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, DMSNET_LOG_LEVEL: 'warn' } })
      helpers.push(child)
      helperInfo.push({ build, count })
      lines.push(createInterface({ input: child.stdout! })[Symbol.asyncIterator]())
    }
    const nextLine = async (i: number, ms: number): Promise<Record<string, number>> => {
      const r = await Promise.race([lines[i]!.next(), sleep(ms).then(() => undefined)])
      if (r == null || r.done === true) throw new Error(`helper g${i}: no answer within ${ms} ms`)
      return JSON.parse(r.value) as Record<string, number>
    }
    for (let i = 0; i < helpers.length; i++) await nextLine(i, 600_000)
    log(`peers up; warm-up ${WARMUP_S} s`)
    await sleep(WARMUP_S * 1000)
    for (const h of hubs) {
      const m = await h.d.metrics().catch(() => '')
      const t = await createControlClient({ socket: join(h.d.dir, 'control.sock') }).call('messaging.topic', { topic: TOPIC }).catch(() => undefined)
      log(`${h.d.name}: ${metricSum(m, 'dmsnet_peers_connected')} peers connected, ${t?.subscribers ?? '?'} subscribers of the topic known`)
    }

    const perMsg: number[][] = hubs.map(() => [])
    const idlePct: number[][] = hubs.map(() => [])
    const peers: number[][] = hubs.map(() => [])
    const threadPct: Array<Array<Record<string, number>>> = hubs.map(() => [])
    const helperMsg: Array<{ build: string, msPerMsgPerNode: number }> = []
    const loads: number[][] = []
    const profiled = hubs.find(h => h.d.name === 'prof')
    for (let r = 0; r < ROUNDS; r++) {
      const i0 = hubs.map(h => ({ at: Date.now(), cpuS: procCpuS(h.d.pid) }))
      await sleep(IDLE_S * 1000)
      const i1 = hubs.map(h => ({ at: Date.now(), cpuS: procCpuS(h.d.pid) }))
      const idleRate = i0.map((a, k) => (i1[k]!.cpuS - a.cpuS) / ((i1[k]!.at - a.at) / 1000))
      const got0 = hubs.map(h => h.got)
      const th0 = hubs.map(h => threadCpu(h.d.pid))
      const h0 = helpers.map(c => procCpuS(c.pid!))
      const load0 = loadavg()[0]!
      const prof = profiled != null && WINDOW_PROF != null && r === 0
        ? windowProfile(profiled.d.pid, Math.ceil(MESSAGES * INTERVAL_MS / 1000 + 3) * 1000, join(WINDOW_PROF, `gossip-${Date.now()}.cpuprofile`)).catch((err: Error) => { log(`window profile failed: ${err.message}`) })
        : undefined
      helpers[0]!.stdin!.write(JSON.stringify({ publish: MESSAGES, intervalMs: INTERVAL_MS }) + '\n')
      const ans = await nextLine(0, MESSAGES * INTERVAL_MS + 120_000)
      const published = ans.published ?? 0
      const t0 = Date.now()
      while (Date.now() - t0 < 30_000 && hubs.some((h, k) => h.got - got0[k]! < published)) await sleep(100)
      await sleep(1000) // the forwarding of the last messages (IHAVE at the next heartbeat) is part of their cost
      await prof
      const g1 = hubs.map(h => ({ at: Date.now(), cpuS: procCpuS(h.d.pid) }))
      const th1 = hubs.map(h => threadCpu(h.d.pid))
      loads.push([round(load0, 1), round(loadavg()[0]!, 1)])
      for (const [k, h] of hubs.entries()) {
        const got = h.got - got0[k]!
        if (got < 0.99 * published) throw new Error(`${h.d.name} delivered ${got} of ${published} messages in round ${r + 1}`)
        const secs = (g1[k]!.at - i1[k]!.at) / 1000
        const ms = 1000 * ((g1[k]!.cpuS - i1[k]!.cpuS) - idleRate[k]! * secs) / got
        perMsg[k]!.push(ms)
        idlePct[k]!.push(100 * idleRate[k]!)
        peers[k]!.push(metricSum(await h.d.metrics().catch(() => ''), 'dmsnet_peers_connected'))
        const threads = threadCpuPct(th0[k]!, th1[k]!)
        threadPct[k]!.push(threads)
        log(`round ${r + 1}/${ROUNDS} ${h.d.name}: ${round(ms, 3)} ms of CPU per message (${got} delivered in ${round(secs, 1)} s; idle ${round(100 * idleRate[k]!, 2)} %; publishing window by thread, % of a core: ${JSON.stringify(threads)}), load ${round(load0, 1)} -> ${round(loadavg()[0]!, 1)}`)
      }
      helpers.forEach((c, k) => {
        const ms = 1000 * (procCpuS(c.pid!) - h0[k]!) / published / helperInfo[k]!.count
        helperMsg.push({ build: helperInfo[k]!.build, msPerMsgPerNode: ms })
        log(`round ${r + 1}/${ROUNDS} peers g${k} (${helperInfo[k]!.build}, ${helperInfo[k]!.count} nodes): ${round(ms, 3)} ms per message per node (idle included)`)
      })
    }
    if (WINDOW_PROF != null) {
      const file = readdirSync(WINDOW_PROF).find(f => f.startsWith('gossip-') && f.endsWith('.cpuprofile'))
      if (file != null) {
        const p = JSON.parse(readFileSync(join(WINDOW_PROF, file), 'utf8')) as { startTime: number, endTime: number }
        const whole = { phase: 'gossip window', ms: (p.endTime - p.startTime) / 1000, monoUs: [p.startTime, p.endTime] } as unknown as PhaseRecord
        log(await sliceProfiles(WINDOW_PROF, [whole]))
      }
    }
    const result: Record<string, unknown> = { peers_inproc: PEERS, messages: MESSAGES, interval_ms: INTERVAL_MS, rounds: ROUNDS, load: loads }
    hubs.forEach((h, k) => {
      const v = perMsg[k]!
      result[h.d.name] = { cpu_ms_per_msg: v.map(x => round(x, 3)), cpu_ms_per_msg_min: round(Math.min(...v), 3), cpu_ms_per_msg_median: round(median(v), 3), cpu_ms_per_msg_max: round(Math.max(...v), 3), idle_pct: idlePct[k]!.map(x => round(x, 3)), threads_pct: threadPct[k], peers: peers[k] }
    })
    for (const build of ['new', 'base']) {
      const v = helperMsg.filter(x => x.build === build).map(x => x.msPerMsgPerNode)
      if (v.length > 0) result[`peer_ms_per_msg_per_node_${build}`] = { min: round(Math.min(...v), 3), median: round(median(v), 3), max: round(Math.max(...v), 3) }
    }
    writeJsonLine(result)
  } finally {
    await stopAll()
  }
}

main().then(() => { process.exit(0) }, (err: Error) => {
  console.error(`census-gossip failed: ${err.stack ?? err.message}`)
  process.exit(1)
})

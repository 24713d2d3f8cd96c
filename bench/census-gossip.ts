/**
 * CPU per gossip message at a node with ~50 peers (issue 10): at N=100 every message makes most of
 * the daemons runnable at once on 2 cores, so what each spends per message is what the gossip
 * tail waits for. A hub (one dmsnet node, `createNode` as the daemon composes it, alone in its
 * process) and `--peers` in-process dmsnet nodes in `--procs` helper processes
 * (bench/_lib/census-peers.ts), all bootstrapped from the hub and subscribed to one topic; after
 * the warm-up, per round: `--idle` s without traffic (the hub's idle CPU rate), then the first
 * helper's first node publishes `--messages` messages, one every `--interval` ms, and the hub's
 * CPU over that window, less its idle rate, per message it delivered is its CPU per message (with
 * the window's CPU by thread). All nodes share 127.0.0.1, so gossipsub's IP colocation penalty is
 * off in all of them (above 10 peers per address it graylists every peer). `--window-prof <dir>`
 * profiles the hub through its inspector over the first round's publishing and prints where its
 * time went. `--hub-env` is environment for the hub's process only (a switch, for a before/after).
 *
 * Usage: npm run bench -- census-gossip [--peers 60] [--procs 2] [--warmup 60] [--rounds 3]
 *        [--messages 200] [--interval 50] [--idle 15] [--window-prof <dir>] [--hub-env "K=V ..."]
 * Progress on stderr; stdout: one JSON line (`cpu_ms_per_msg` per round, min/median/max).
 * Fails (non-zero exit, with the reason) if the hub delivers fewer than 99 % of the messages.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { envArg, numArg, progress, stopServer, strArg, writeJsonLine } from './_lib/process.js'
import { median, round } from './_lib/stats.js'
import { windowProfile } from './_lib/census-prof.js'
import { procCpuS, threadCpu, threadCpuPct } from './_lib/census-threads.js'
import { sliceProfiles } from './_lib/scale-profile.js'
import type { PhaseRecord } from './_lib/scale-phase.js'

const log = progress('census-gossip')
const PEERS = numArg('peers', 60)
const PROCS = numArg('procs', 2)
const WARMUP_S = numArg('warmup', 60, true)
const ROUNDS = numArg('rounds', 3)
const MESSAGES = numArg('messages', 200)
const INTERVAL_MS = numArg('interval', 50)
const IDLE_S = numArg('idle', 15)
const WINDOW_PROF = strArg('window-prof')
/** Environment for the hub's process only (`K=V ...`), e.g. a switch for a before/after. */
const HUB_ENV = envArg('hub-env')
const TOPIC = '/dmsnet-bench/census-gossip'

const here = dirname(fileURLToPath(import.meta.url))
const PEERS_SCRIPT = join(here, '_lib/census-peers.js')
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }


interface Helper { child: ChildProcess, lines: AsyncIterator<string>, count: number }

function spawnHelper (name: string, count: number, bootstrap: string[], env: Record<string, string> = {}): Helper {
  const child = spawn(process.execPath, [PEERS_SCRIPT, JSON.stringify({ count, bootstrap, startGapMs: 300, name, topic: TOPIC })], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, DMSNET_LOG_LEVEL: 'warn', ...env } })
  return { child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator](), count }
}

async function answer (h: Helper, ms: number): Promise<Record<string, unknown>> {
  const r = await Promise.race([h.lines.next(), sleep(ms).then(() => undefined)])
  if (r == null || r.done === true) throw new Error(`helper pid ${h.child.pid}: no answer within ${ms} ms`)
  return JSON.parse(r.value) as Record<string, unknown>
}

async function ask (h: Helper, cmd: Record<string, unknown>, ms: number): Promise<Record<string, unknown>> {
  h.child.stdin!.write(JSON.stringify(cmd) + '\n')
  return await answer(h, ms)
}

async function main (): Promise<void> {
  const helpers: Helper[] = []
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(helpers.map(async h => { await stopServer(h.child, 30_000) }))
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { void stopAll().finally(() => process.exit(1)) })
  }
  try {
    const hub = spawnHelper('hub', 1, [], HUB_ENV)
    helpers.push(hub)
    const hubAddr = String((await answer(hub, 120_000)).addr ?? '')
    if (!hubAddr.includes('/tcp/')) throw new Error(`the hub gave no address: ${hubAddr}`)
    log(`hub up (pid ${hub.child.pid}, ${hubAddr}); starting ${PEERS} in-process peers in ${PROCS} processes`)
    const per = Math.ceil(PEERS / PROCS)
    const peers: Helper[] = []
    for (let p = 0; p < PROCS; p++) {
      const count = Math.min(per, PEERS - p * per)
      if (count <= 0) break
      const h = spawnHelper(`g${p}`, count, [hubAddr])
      helpers.push(h)
      peers.push(h)
    }
    for (const h of peers) await answer(h, 600_000)
    log(`peers up; warm-up ${WARMUP_S} s`)
    await sleep(WARMUP_S * 1000)

    const perMsg: number[] = []
    const idlePct: number[] = []
    const threads: Array<Record<string, number>> = []
    const peerMs: number[] = []
    const loads: number[][] = []
    const hubPid = hub.child.pid!
    for (let r = 0; r < ROUNDS; r++) {
      const i0 = { at: Date.now(), cpuS: procCpuS(hubPid) }
      await sleep(IDLE_S * 1000)
      const i1 = { at: Date.now(), cpuS: procCpuS(hubPid) }
      const idleRate = (i1.cpuS - i0.cpuS) / ((i1.at - i0.at) / 1000)
      const got0 = Number((await ask(hub, {}, 10_000)).received ?? 0)
      const th0 = threadCpu(hubPid)
      const p0 = peers.map(h => procCpuS(h.child.pid!))
      const load0 = loadavg()[0]!
      const prof = WINDOW_PROF != null && r === 0
        ? windowProfile(hubPid, Math.ceil(MESSAGES * INTERVAL_MS / 1000 + 3) * 1000, join(WINDOW_PROF, `gossip-${Date.now()}.cpuprofile`)).catch((err: Error) => { log(`window profile failed: ${err.message}`) })
        : undefined
      const published = Number((await ask(peers[0]!, { publish: MESSAGES, intervalMs: INTERVAL_MS }, MESSAGES * INTERVAL_MS + 120_000)).published ?? 0)
      const t0 = Date.now()
      let got = 0
      while (Date.now() - t0 < 30_000) {
        got = Number((await ask(hub, {}, 10_000)).received ?? 0) - got0
        if (got >= published) break
        await sleep(200)
      }
      await sleep(1000) // the forwarding of the last messages (IHAVE at the next heartbeat) is part of their cost
      await prof
      const g1 = { at: Date.now(), cpuS: procCpuS(hubPid) }
      const th = threadCpuPct(th0, threadCpu(hubPid))
      if (published === 0 || got < 0.99 * published) throw new Error(`the hub delivered ${got} of ${published} messages in round ${r + 1}`)
      const secs = (g1.at - i1.at) / 1000
      const ms = 1000 * ((g1.cpuS - i1.cpuS) - idleRate * secs) / got
      perMsg.push(ms)
      idlePct.push(100 * idleRate)
      threads.push(th)
      loads.push([round(load0, 1), round(loadavg()[0]!, 1)])
      log(`round ${r + 1}/${ROUNDS} hub: ${round(ms, 3)} ms of CPU per message (${got} delivered in ${round(secs, 1)} s; idle ${round(100 * idleRate, 2)} %; window by thread, % of a core: ${JSON.stringify(th)}), load ${round(load0, 1)} -> ${round(loadavg()[0]!, 1)}`)
      peers.forEach((h, k) => {
        const v = 1000 * (procCpuS(h.child.pid!) - p0[k]!) / published / h.count
        peerMs.push(v)
        log(`round ${r + 1}/${ROUNDS} peers g${k} (${h.count} nodes): ${round(v, 3)} ms per message per node (idle included)`)
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
    writeJsonLine({
      peers_inproc: PEERS,
      messages: MESSAGES,
      interval_ms: INTERVAL_MS,
      rounds: ROUNDS,
      load: loads,
      cpu_ms_per_msg: perMsg.map(x => round(x, 3)),
      cpu_ms_per_msg_min: round(Math.min(...perMsg), 3),
      cpu_ms_per_msg_median: round(median(perMsg), 3),
      cpu_ms_per_msg_max: round(Math.max(...perMsg), 3),
      idle_pct: idlePct.map(x => round(x, 3)),
      threads_pct: threads,
      peer_ms_per_msg_per_node: { min: round(Math.min(...peerMs), 3), median: round(median(peerMs), 3), max: round(Math.max(...peerMs), 3) }
    })
  } finally {
    await stopAll()
  }
}

main().then(() => { process.exit(0) }, (err: Error) => {
  console.error(`census-gossip failed: ${err.stack ?? err.message}`)
  process.exit(1)
})

/**
 * The scale bench's measurements on the public network, each driven through the daemons' control
 * sockets: convergence (connections and routing table), DHT lookups, gossip to all, job bids, a
 * direct request to a far node, and idle CPU/RSS per daemon. Every loop is bounded in count and time.
 */
import { median, minMedianMax, round } from './stats.js'
import { smapsRollup } from './daemons.js'
import { cpuPercentSliced, cpuTicks, drain, pollUntil, pool, rssMb, sample, tail, type Tail } from './scale-util.js'
import type { ScaleNode, ScaleWorld } from './scale-world.js'
import type { HeapBreakdownMb } from '../../src/daemon/memory-module.js'

type Log = (msg: string) => void

export interface Convergence {
  /** ms until every node had >= minConns connections and a full routing table; null if never */
  ms: number | null
  nodesOk: number
  connsMin: number
  connsMedian: number
  rtMin: number
  rtMedian: number
  /** the routing table size counted as full: min(N - 1, k) */
  rtFull: number
}

/** Polls every node's connections and routing table until all are "converged" or the timeout. */
export async function waitConverged (nodes: ScaleNode[], minConns: number, k: number, timeoutMs: number, since: number, log: Log): Promise<Convergence> {
  const rtFull = Math.min(nodes.length - 1, k)
  const want = Math.min(minConns, nodes.length - 1)
  let last: Convergence = { ms: null, nodesOk: 0, connsMin: 0, connsMedian: 0, rtMin: 0, rtMedian: 0, rtFull }
  let polls = 0
  let unanswered: string[] = []
  await pollUntil(async () => {
    unanswered = []
    const rows = await pool(nodes, 16, async n => {
      try {
        const signal = AbortSignal.timeout(30_000)
        const [peers, dht] = await Promise.all([
          n.client.call('node.peers', {}, { signal }),
          n.client.call('node.dht.status', {}, { signal })
        ])
        return { conns: new Set(peers.map(p => p.peerId)).size, rt: dht.routingTableSize }
      } catch (err) {
        // a daemon too busy to answer in time counts as not converged; one that died fails the bench elsewhere
        unanswered.push(`${n.index}: ${(err as Error).name}`)
        return { conns: 0, rt: 0 }
      }
    })
    const conns = rows.map(r => r.conns).sort((a, b) => a - b)
    const rts = rows.map(r => r.rt).sort((a, b) => a - b)
    const ok = rows.filter(r => r.conns >= want && r.rt >= rtFull).length
    last = { ms: ok === nodes.length ? Date.now() - since : null, nodesOk: ok, connsMin: conns[0]!, connsMedian: conns[conns.length >> 1]!, rtMin: rts[0]!, rtMedian: rts[rts.length >> 1]!, rtFull }
    if (++polls % 5 === 0) log(`converging: ${ok}/${nodes.length} nodes ok; connections min ${last.connsMin} median ${last.connsMedian}; routing table min ${last.rtMin} median ${last.rtMedian} (full = ${rtFull})${unanswered.length > 0 ? `; no answer from ${unanswered.join(', ')}` : ''}`)
    return ok === nodes.length
  }, timeoutMs, 2000)
  return last
}

export interface Lookups {
  latency: Tail
  success: number
  n: number
  askedMedian: number
  /** why each lookup that found nothing ended */
  failures: string[]
  /**
   * How the lookups started and ended, summed over the askers (src/network/dht-direct.ts): asked
   * the target first (`direct`, `answered`, `dialled`), connected neighbours first (`neighbours`,
   * `neighbourAnswered`), kad-dht's full lookup beside them (`fellBack`, `fellBackEarly`) or alone
   * (`full`). Other lookups the daemons ran meanwhile are in it too (few: self-queries are not lookups of a peer).
   */
  paths: Record<string, number>
  /**
   * Where a lookup's time went (found lookups): until the first FIND_NODE was sent (waits inside
   * kad-dht before the query), until the first answer (stream open + one request round trip),
   * the control call as this process saw it, a libp2p ping from the same node to the same target
   * right after (the machine's floor for one request), queries sent and failed per lookup.
   */
  breakdown: { firstQueryMs: Tail, firstResponseMs: Tail, callMs: Tail, pingMs: Tail, queriesMedian: number, queryErrorsMedian: number }
}

/** Every node's lookup counters (`node.dht.status` `lookups`, src/network/dht-direct.ts) summed. */
export async function lookupCounters (nodes: ScaleNode[]): Promise<Record<string, number>> {
  const sum: Record<string, number> = {}
  await pool(nodes, 16, async n => {
    const st = await n.client.call('node.dht.status', {}).catch(() => undefined)
    for (const [k, v] of Object.entries(st?.lookups ?? {})) sum[k] = (sum[k] ?? 0) + v
  })
  return sum
}

export interface LookupOptions {
  /** how each lookup starts (`node.dht.find-peer` `via`); the daemons' own when absent */
  via?: 'auto' | 'target' | 'kad'
  /** a libp2p ping to the target after each lookup (the breakdown's floor; default on) */
  ping?: boolean
}

/** DHT lookups (network query, no cache) of random peers from random nodes. */
export async function dhtLookups (nodes: ScaleNode[], count: number, random: () => number, opts: LookupOptions = {}): Promise<Lookups> {
  const pairs = Array.from({ length: count }, () => sample(nodes, 2, random) as [ScaleNode, ScaleNode])
  const c0 = await lookupCounters(nodes)
  const res = await pool(pairs, 4, async ([from, to]) => {
    const t0 = performance.now()
    const r = await from.client.call('node.dht.find-peer', { peer: to.peerId, timeoutMs: 20_000, ...(opts.via != null ? { via: opts.via } : {}) })
      .catch((err: Error) => ({ found: false, ms: 0, asked: 0, error: `control call: ${err.name}`, firstQueryMs: undefined, firstResponseMs: undefined, queries: undefined, queryErrors: undefined }))
    const callMs = performance.now() - t0
    // the floor for comparison: one libp2p ping to the same peer (a stream open + one round trip
    // on the open connection, the shape of one DHT request), in the same moment
    const pingMs = opts.ping === false ? undefined : await from.client.call('node.ping', { peer: to.peerId, count: 1 }).then(p => p.rtts[0], () => undefined)
    return { ...r, callMs, pingMs }
  })
  const c1 = await lookupCounters(nodes)
  const paths = Object.fromEntries(Object.entries(c1).map(([k, v]) => [k, v - (c0[k] ?? 0)]))
  const ok = res.filter(r => r.found)
  const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1] ?? 0 }
  const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x != null)
  return {
    latency: tail(ok.map(r => r.ms)),
    success: round(ok.length / res.length, 4),
    n: res.length,
    askedMedian: med(res.map(r => r.asked)),
    paths,
    failures: res.filter(r => !r.found).map(r => `${r.error ?? 'not found'} after ${Math.round(r.ms)} ms, ${r.asked} answers, ${r.queries ?? '?'} queries (${r.queryErrors ?? '?'} failed)`),
    breakdown: {
      firstQueryMs: tail(defined(ok.map(r => r.firstQueryMs))),
      firstResponseMs: tail(defined(ok.map(r => r.firstResponseMs))),
      callMs: tail(ok.map(r => r.callMs)),
      pingMs: tail(defined(res.map(r => r.pingMs))),
      queriesMedian: med(defined(ok.map(r => r.queries))),
      queryErrorsMedian: med(defined(ok.map(r => r.queryErrors)))
    }
  }
}

export interface Gossip {
  /** per message: time from the publisher daemon's publish() (its clock: the reply's `at`) until the last node had it */
  allMs: Tail
  /** the same from before this process's control call (adds the call's own latency to a busy daemon) */
  allFromCallMs: Tail
  /** per (message, node) delivery */
  eachMs: Tail
  delivery: number
  messages: number
  warmupMs: number
  /**
   * Control subscription streams that broke (e.g. "the daemon closed the connection": an HTTP
   * keep-alive socket the daemon had just closed, reused by this process's agent when it was too
   * busy to retire it) and were opened again; deliveries missed in the gap count as not delivered.
   */
  subscriptionFailures: Array<{ node: number, error: string, resubscribed: boolean }>
}

/**
 * Keeps one node's control subscription open until `signal` aborts: a broken stream is reported
 * and opened again (at most `tries` times, 500 ms apart), so one failure does not silently lose
 * the node's deliveries for the rest of the phase.
 */
async function keepSubscribed (n: ScaleNode, topic: string, signal: AbortSignal, onMessage: (m: { payload: string, at: number }) => void,
  failures: Gossip['subscriptionFailures'], tries = 5): Promise<void> {
  for (let attempt = 0; attempt <= tries && !signal.aborted; attempt++) {
    let failed: Error | undefined
    await drain(n.client.stream('messaging.subscribe', { topic }, { signal }), signal, onMessage, e => { failed = e })
    if (failed == null) return
    const resubscribed = attempt < tries && !signal.aborted
    failures.push({ node: n.index, error: `${failed.name}: ${failed.message}`, resubscribed })
    if (!resubscribed) return
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

/**
 * Subscribes every node to a topic, waits until each has received a warm-up message (the meshes
 * are formed), then publishes `count` messages from random nodes and records each delivery time
 * (`at`, stamped by the receiving daemon; all run on this machine's clock).
 */
export async function gossip (nodes: ScaleNode[], count: number, topic: string, random: () => number, log: Log): Promise<Gossip> {
  const ac = new AbortController()
  const got = nodes.map(() => new Map<string, number>())
  const failures: Gossip['subscriptionFailures'] = []
  const subs = nodes.map(async (n, i) => { await keepSubscribed(n, topic, ac.signal, m => { if (!got[i]!.has(m.payload)) got[i]!.set(m.payload, m.at) }, failures) })
  try {
    const w0 = Date.now()
    let w = 0
    const warmed = await pollUntil(async () => {
      const pi = w++ % nodes.length
      await nodes[pi]!.client.call('messaging.publish', { topic, type: 'warmup', payload: `warmup-${w}` })
      return got.every((g, i) => i === pi || [...g.keys()].some(k => k.startsWith('warmup-')))
    }, 60_000, 1000)
    const warmupMs = Date.now() - w0
    if (!warmed) log(`gossip warm-up: not every node got a message within 60 s (${got.filter(g => g.size > 0).length}/${nodes.length})`)
    const sent: Array<{ id: string, from: number, at: number, calledAt: number }> = []
    for (let m = 0; m < count; m++) {
      const from = nodes[Math.floor(random() * nodes.length)]!
      const id = `msg-${m}`
      const calledAt = Date.now()
      const { at } = await from.client.call('messaging.publish', { topic, type: 'scale', payload: id })
      sent.push({ id, from: nodes.indexOf(from), at, calledAt })
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    const expected = sent.length * (nodes.length - 1)
    const count$ = (): number => sent.reduce((s, m) => s + got.filter((g, i) => i !== m.from && g.has(m.id)).length, 0)
    await pollUntil(async () => count$() >= expected, 15_000, 250)
    const all: number[] = []
    const allFromCall: number[] = []
    const each: number[] = []
    for (const m of sent) {
      const ts = got.flatMap((g, i) => i === m.from || !g.has(m.id) ? [] : [g.get(m.id)! - m.at])
      each.push(...ts)
      if (ts.length === nodes.length - 1) {
        all.push(Math.max(...ts))
        allFromCall.push(Math.max(...ts) + m.at - m.calledAt)
      }
    }
    for (const f of failures) log(`gossip: node ${f.node}'s subscription stream failed (${f.error})${f.resubscribed ? '; subscribed again' : '; gave up'}`)
    return { allMs: tail(all), allFromCallMs: tail(allFromCall), eachMs: tail(each), delivery: round(count$() / expected, 4), messages: sent.length, warmupMs, subscriptionFailures: [...failures] }
  } finally {
    ac.abort()
    await Promise.all(subs)
  }
}

export interface BidRound {
  received: number
  expected: number
  lastMs: number | null
  /** Bidders whose daemon saw the request (a `bid` line on its serve stream). */
  reached: number
  /** Bids the bidders' daemons reported delivered, and how many of those needed more than one try. */
  delivered: number
  retried: number
  /** Bids given up on, by error name. */
  failed: Record<string, number>
  /** The most frequent failure messages (peer ids shortened), with counts and the median ms into the round. */
  failedDetail: Array<{ error: string, count: number, msMedian: number }>
  /**
   * After a round with failures: up to 3 failed bidders dial the orchestrator again by peer id
   * (`node.connect`), so a dial that cannot work at all is told apart from one that was too slow.
   */
  redial: Array<{ node: number, ok: boolean, ms: number, error?: string }>
  /** CPU seconds the orchestrator's daemon used during the round (new connections cost handshakes). */
  orchCpuS: number | null
  /** Bids that came in from bidders the orchestrator was not connected to when it published. */
  newConnections: number
  /** Bidders the orchestrator was connected to when it published. */
  connectedBefore: number
}
export interface Bids { rounds: BidRound[], subscribedMs: number }

type ServeEvent = { event: 'bid', requestId: string } | { event: 'sent', requestId: string, attempts: number } | { event: 'failed', requestId: string, attempts: number, ms: number, error: string }

/** Failure messages grouped (peer ids and numbers blanked so that alike ones group), most frequent first. */
function groupFailures (evs: Array<Extract<ServeEvent, { event: 'failed' }>>): BidRound['failedDetail'] {
  const groups = new Map<string, number[]>()
  for (const e of evs) {
    const key = e.error.replace(/12D3Koo\w+/g, '<peer>').replace(/\d+/g, 'N').slice(0, 200)
    groups.set(key, [...(groups.get(key) ?? []), e.ms])
  }
  return [...groups].sort((a, b) => b[1].length - a[1].length).slice(0, 4)
    .map(([error, ms]) => ({ error, count: ms.length, msMedian: [...ms].sort((a, b) => a - b)[ms.length >> 1] ?? 0 }))
}

/**
 * Every node but the first serves bids; the first publishes `rounds` jobs; bids and time to the
 * last one. The bidders' serve streams say, per request, who saw it and whether its bid was
 * delivered, so a missing bid is told apart: the request did not reach the bidder (gossip), or
 * the bid did not reach the orchestrator (dial, inbound limits).
 */
export async function jobBids (nodes: ScaleNode[], rounds: number, deadlineMs: number, log: Log): Promise<Bids> {
  const ac = new AbortController()
  const [orch, ...bidders] = nodes
  const seen = new Map<string, Array<ServeEvent & { node: number }>>()
  const serving = bidders.map(n => drain(n.client.stream('messaging.job.serve', { price: 1 }, { signal: ac.signal }) as AsyncGenerator<ServeEvent>, ac.signal,
    (ev) => { seen.set(ev.requestId, [...(seen.get(ev.requestId) ?? []), { ...ev, node: n.index }]) }, e => { log(`job.serve on ${n.index}: ${e.name} ${e.message}`) }))
  try {
    // a bidder's subscription to the jobs topic must reach its peers before a request can reach
    // it: wait until the orchestrator sees subscribers on the topic stop growing (bounded)
    const s0 = Date.now()
    let last = -1
    let stable = 0
    await pollUntil(async () => {
      const peers = (await orch!.client.call('messaging.topic', {})).subscribers
      stable = peers === last ? stable + 1 : 0
      last = peers
      return stable >= 3
    }, 30_000, 1000)
    const subscribedMs = Date.now() - s0
    const out: BidRound[] = []
    for (let r = 0; r < rounds; r++) {
      let received = 0
      let lastMs: number | null = null
      let requestId = ''
      const ticks0 = cpuTicks(orch!.pid)
      const connected0 = new Set((await orch!.client.call('node.peers', {})).map(p => p.peerId))
      const bidders$ = new Set<string>()
      for await (const ev of orch!.client.stream('messaging.job.publish', { kind: 'scale', deadlineMs, maxBids: bidders.length })) {
        requestId = ev.requestId
        if (ev.event === 'bid') { received++; lastMs = ev.elapsedMs; bidders$.add(ev.bid.bidder) }
      }
      const ticks1 = cpuTicks(orch!.pid)
      // a bidder's delivery outcome can trail the orchestrator's deadline by one try
      await pollUntil(async () => { const evs = seen.get(requestId) ?? []; return evs.filter(e => e.event !== 'bid').length >= evs.filter(e => e.event === 'bid').length }, 5000, 250)
      const evs = seen.get(requestId) ?? []
      const failed: Record<string, number> = {}
      const failures = evs.filter((e): e is Extract<ServeEvent, { event: 'failed' }> & { node: number } => e.event === 'failed')
      for (const e of failures) { const k = e.error.split(':')[0]!; failed[k] = (failed[k] ?? 0) + 1 }
      const redial: BidRound['redial'] = []
      for (const f of failures.slice(0, 3)) {
        const t0 = performance.now()
        const r = await nodes[f.node]!.client.call('node.connect', { target: orch!.peerId }).then(() => ({ ok: true }), (err: Error) => ({ ok: false, error: `${err.name}: ${err.message}`.slice(0, 200) }))
        redial.push({ node: f.node, ms: Math.round(performance.now() - t0), ...r })
      }
      const rec: BidRound = {
        received,
        expected: bidders.length,
        lastMs,
        reached: evs.filter(e => e.event === 'bid').length,
        delivered: evs.filter(e => e.event === 'sent').length,
        retried: evs.filter(e => e.event === 'sent' && e.attempts > 1).length,
        failed,
        failedDetail: groupFailures(failures),
        redial,
        orchCpuS: ticks0 != null && ticks1 != null ? (ticks1 - ticks0) / 100 : null,
        newConnections: [...bidders$].filter(b => !connected0.has(b)).length,
        connectedBefore: bidders.filter(b => connected0.has(b.peerId)).length
      }
      out.push(rec)
      log(`job round ${r + 1}: ${received}/${bidders.length} bids, last after ${lastMs ?? '-'} ms; request reached ${rec.reached}, ` +
        `bids delivered ${rec.delivered} (${rec.retried} after a retry), failed ${JSON.stringify(failed)}; orchestrator connected to ${rec.connectedBefore} ` +
        `bidders before, ${rec.newConnections} bids over new connections, orchestrator CPU ${rec.orchCpuS ?? '-'} s`)
      for (const d of rec.failedDetail) log(`  ${d.count} failed (median ${d.msMedian} ms): ${d.error}`)
      for (const d of rec.redial) log(`  node ${d.node} dialled the orchestrator again after the round: ${d.ok ? 'connected' : d.error ?? 'failed'} in ${d.ms} ms`)
    }
    return { rounds: out, subscribedMs }
  } finally {
    ac.abort()
    await Promise.all(serving)
  }
}

export interface Requests { latency: Tail, ok: number, n: number }

/** Echo requests from random nodes to a random node of the site farthest from theirs. */
export async function farRequests (nodes: ScaleNode[], rtt: number[][], count: number, random: () => number): Promise<Requests> {
  const jobs = Array.from({ length: count }, () => {
    const from = nodes[Math.floor(random() * nodes.length)]!
    const row = rtt[from.site]!
    const present = new Set(nodes.map(n => n.site))
    const far = [...present].sort((a, b) => row[b]! - row[a]!)[0]!
    const cands = nodes.filter(n => n.site === far && n !== from)
    return { from, to: cands[Math.floor(random() * cands.length)]! }
  })
  const res = await pool(jobs, 4, async ({ from, to }) => {
    try {
      return await from.client.call('messaging.request', { peer: to.peerId, type: 'dmsnet.echo', payload: 'scale', timeoutMs: 15_000 })
    } catch {
      return undefined
    }
  })
  const ok = res.filter(r => r != null)
  return { latency: tail(ok.map(r => r.ms)), ok: ok.length, n: res.length }
}

export interface Usage {
  cpuPct: { median: number, max: number, mean: number }
  rssMb: { median: number, max: number, mean: number }
  // RSS counts the node binary's shared file pages in every daemon; PSS divides them, anon is each one's own
  pssMb?: { median: number, max: number, mean: number }
  anonMb?: { median: number, max: number, mean: number }
  /** RSS minus anon (smaps_rollup): file pages, ~all of them the node binary's; they depend on its page cache (bench/_lib/node-binary.ts) */
  fileMb?: { median: number, max: number, mean: number }
  /** the busiest daemons of the window, with their connection count: is the max a bootstrap, or a node's periodic job? */
  top?: Array<{ node: number, cpuPct: number, conns: number | null, slicesPct?: Array<number | null> }>
  /** the largest daemons by RSS (node: MB) */
  topRss?: Array<{ node: number, rssMb: number }>
  /** the busiest node's busiest slice of the window (% of a core), and the slice length (s) */
  sliceMaxPct?: number
  sliceS?: number
  /** the idle memory reclaim (`modules.memory` of `node.status`) at the window's end, over the daemons that answered */
  reclaim?: ReclaimSummary
  /** with `--ab-env`: medians per half (even daemons: a, odd: b, which got the variables) */
  ab?: Record<'a' | 'b', AbHalf>
}

/** One half of a same-run A/B (`--ab-env`): medians over its daemons; `heapMb`: V8's committed heap; `mallocFreeMb`: free chunks malloc keeps */
export interface AbHalf { daemons: number, cpuPct: number | null, rssMb: number | null, anonMb: number | null, pssMb: number | null, heapMb: number | null, mallocFreeMb: number | null }

/** What the daemons' idle reclaims (src/daemon/memory-reclaim.ts) had done by the end of the idle window. */
export interface ReclaimSummary {
  daemons: number
  reclaims: Spread
  /** daemons with a reclaim inside the window, and of all reclaims so far those of the settle rule */
  reclaimedInWindow: number
  settleReclaims: number
  tidies: Spread
  busyChecks: Spread
  /** s from the daemon's last reclaim to the window's end (null: no daemon had reclaimed) */
  lastReclaimAgeS: Spread | null
  /** MB given back over all reclaims so far (RSS before - after), and of it by malloc_trim, per daemon */
  returnedMb: Spread
  trimmedMb: Spread
  /** RSS at the window's end minus right after the daemon's last reclaim, MB (null: no daemon had reclaimed) */
  sinceLastReclaimMb: Spread | null
  /**
   * V8's committed MB per heap space and in all (`total`), what objects fill (`used`), and the
   * anonymous RSS outside it (`outside`: malloc, stacks), of which ArrayBuffers' backing stores
   * (`arrayBuffers`) and V8's own malloc (`v8Malloced`); malloc's own count: live (`mallocInUse`)
   * and the free chunks it keeps (`mallocFree`)
   */
  heapMb: Record<string, Spread>
}

type Spread = ReturnType<typeof minMedianMax>

interface MemoryStatus { heapMb?: HeapBreakdownMb, lastRssMb?: number | null, returnedMb?: number, trimmedMb?: number, reclaims?: number, settleReclaims?: number, tidies?: number, busyChecks?: number, lastAt?: string | null }

async function reclaimSummary (nodes: ScaleNode[], windowMs: number): Promise<{ summary?: ReclaimSummary, heapMb: Array<HeapBreakdownMb | undefined> }> {
  const end = Date.now()
  // RSS and anonymous memory read right after each daemon's answer: a tidy or reclaim between the two reads would skew what is compared
  const all = await pool(nodes, 16, async n => {
    try {
      const st = await n.client.call('node.status', {}, { signal: AbortSignal.timeout(10_000) })
      return { memory: (st.modules as Record<string, MemoryStatus | undefined>).memory, rssMb: rssMb(n.pid), anonMb: smapsRollup(n.pid).Anonymous }
    } catch {
      return undefined
    }
  })
  const heapMb = all.map(a => a?.memory?.heapMb)
  const rows = all.map(a => a?.memory).filter((m): m is MemoryStatus => m?.reclaims != null)
  if (rows.length === 0) return { heapMb }
  // RSS now against right after the daemon's last reclaim: what came back since (the working set, or growth)
  const regrowth = all.map(a => a?.memory?.lastRssMb != null && a.rssMb != null ? a.rssMb - a.memory.lastRssMb : undefined).filter((x): x is number => x != null)
  const outside = all.map(a => a?.memory?.heapMb?.total != null && a.anonMb != null ? a.anonMb - a.memory.heapMb.total : undefined)
    .filter((x): x is number => x != null)
  const mm = minMedianMax
  const ages = rows.map(m => m.lastAt != null ? (end - Date.parse(m.lastAt)) / 1000 : Infinity).filter(Number.isFinite)
  const summary = {
    daemons: rows.length,
    reclaims: mm(rows.map(m => m.reclaims ?? 0)),
    reclaimedInWindow: ages.filter(a => a * 1000 <= windowMs).length,
    settleReclaims: rows.reduce((a, m) => a + (m.settleReclaims ?? 0), 0),
    tidies: mm(rows.map(m => m.tidies ?? 0)),
    busyChecks: mm(rows.map(m => m.busyChecks ?? 0)),
    lastReclaimAgeS: ages.length > 0 ? mm(ages) : null,
    returnedMb: mm(rows.map(m => m.returnedMb ?? 0)),
    trimmedMb: mm(rows.map(m => m.trimmedMb ?? 0)),
    sinceLastReclaimMb: regrowth.length > 0 ? mm(regrowth) : null,
    heapMb: { ...heapSpaces(rows), ...(outside.length > 0 ? { outside: mm(outside) } : {}) }
  }
  return { summary, heapMb }
}

/**
 * Per V8 heap space (a space a daemon left out is at 0) and per other figure, the min/median/max
 * over the daemons that gave `heapMb`; a daemon without malloc's figures (no glibc) is left out of those.
 */
function heapSpaces (rows: MemoryStatus[]): Record<string, Spread> {
  const withHeap = rows.map(m => m.heapMb).filter((h): h is HeapBreakdownMb => h != null)
  const names = [...new Set(withHeap.flatMap(h => Object.keys(h.spaces)))].sort()
  const out: Record<string, Spread> = {}
  for (const k of names) out[k] = minMedianMax(withHeap.map(h => h.spaces[k] ?? 0))
  for (const k of ['total', 'used', 'arrayBuffers', 'v8Malloced', 'mallocInUse', 'mallocFree'] as const) {
    const xs = withHeap.map(h => h[k]).filter((x): x is number => x != null)
    if (xs.length > 0) out[k] = minMedianMax(xs)
  }
  return out
}

/**
 * CPU % of a core and RSS per daemon over `windowMs`, with nothing asked of them. The window must
 * hold the daemons' periodic jobs (some run every few minutes): a 30-s window reads the same node
 * at 0.3 or 1.3% depending on whether a refresh landed in it. The busiest 30-s slice is reported beside.
 */
export async function idleUsage (nodes: ScaleNode[], windowMs: number, sliceMs = 30_000, halves = false): Promise<Usage> {
  const pids = nodes.map(n => n.pid)
  const { whole: perNode, slices } = await cpuPercentSliced(pids, windowMs, Math.min(sliceMs, windowMs))
  const sliceMaxPct = Math.max(0, ...slices.flat().filter((x): x is number => x != null))
  const cpu = perNode.filter((x): x is number => x != null)
  const rssPerNode = pids.map(rssMb)
  const rss = rssPerNode.filter((x): x is number => x != null)
  const topRss = nodes.map((n, i) => ({ node: n.index, rssMb: rssPerNode[i] })).filter((x): x is { node: number, rssMb: number } => x.rssMb != null)
    .sort((a, b) => b.rssMb - a.rssMb).slice(0, 5).map(x => ({ node: x.node, rssMb: round(x.rssMb, 1) }))
  const sum = (xs: number[]): { median: number, max: number, mean: number } => {
    const s = [...xs].sort((a, b) => a - b)
    return { median: round(s[s.length >> 1] ?? 0, 2), max: round(s[s.length - 1] ?? 0, 2), mean: round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), 2) }
  }
  const smaps = pids.map(smapsRollup)
  const pss = smaps.map(m => m.Pss).filter((x): x is number => x != null)
  const anon = smaps.map(m => m.Anonymous).filter((x): x is number => x != null)
  const file = smaps.map(m => m.Rss != null && m.Anonymous != null ? m.Rss - m.Anonymous : undefined).filter((x): x is number => x != null)
  const busiest = nodes.map((n, i) => ({ n, cpu: perNode[i] })).filter((x): x is { n: ScaleNode, cpu: number } => x.cpu != null)
    .sort((a, b) => b.cpu - a.cpu).slice(0, 5)
  const top = await Promise.all(busiest.map(async ({ n, cpu }) => {
    const conns = await n.client.call('node.peers', {}, { signal: AbortSignal.timeout(10_000) })
      .then(peers => new Set(peers.map(p => p.peerId)).size, () => null)
    const nodeSlices = slices[nodes.indexOf(n)] ?? []
    return { node: n.index, cpuPct: round(cpu, 2), conns, slicesPct: nodeSlices.map(x => x == null ? null : round(x, 2)) }
  }))
  const { summary: reclaim, heapMb } = await reclaimSummary(nodes, windowMs)
  // null, not NaN (JSON would write NaN as null without a word): no daemon of the half gave the figure
  const med = (xs: Array<number | null | undefined>): number | null => {
    const v = xs.filter((x): x is number => x != null && Number.isFinite(x))
    return v.length === 0 ? null : round(median(v), 2)
  }
  const half = (odd: number): AbHalf => {
    const idx = nodes.map((n, i) => n.index % 2 === odd ? i : -1).filter(i => i >= 0)
    return { daemons: idx.length, cpuPct: med(idx.map(i => perNode[i])), rssMb: med(idx.map(i => rssPerNode[i])), anonMb: med(idx.map(i => smaps[i]?.Anonymous)), pssMb: med(idx.map(i => smaps[i]?.Pss)), heapMb: med(idx.map(i => heapMb[i]?.total)), mallocFreeMb: med(idx.map(i => heapMb[i]?.mallocFree)) }
  }
  const ab = halves ? { a: half(0), b: half(1) } : undefined
  return { cpuPct: sum(cpu), rssMb: sum(rss), pssMb: sum(pss), anonMb: sum(anon), fileMb: sum(file), top, topRss, sliceMaxPct: round(sliceMaxPct, 2), sliceS: Math.min(sliceMs, windowMs) / 1000, ...(reclaim != null ? { reclaim } : {}), ...(ab != null ? { ab } : {}) }
}

export interface PingCheck { pairs: Array<{ from: number, to: number, configuredMs: number, measuredMs: number | null }>, ok: boolean }

/**
 * ping between nodes of chosen site pairs, compared with the configured RTT. Refuses (ok false)
 * when a link answers nothing or strays from its configuration by more than 30% + 5 ms.
 */
export async function pingCheck (world: ScaleWorld, nodes: ScaleNode[], rtt: number[][], log: Log): Promise<PingCheck> {
  const bySite = new Map<number, ScaleNode[]>()
  for (const n of nodes) bySite.set(n.site, [...(bySite.get(n.site) ?? []), n])
  const sites = [...bySite.keys()].sort((a, b) => a - b)
  const want: Array<[ScaleNode, ScaleNode]> = []
  const s0 = bySite.get(sites[0]!)!
  if (s0.length > 1) want.push([s0[0]!, s0[1]!])
  for (const s of sites.slice(1)) want.push([s0[0]!, bySite.get(s)![0]!])
  const pairs = await pool(want, 4, async ([a, b]) => {
    const r = await world.exec(a.index, 'ping', ['-c', '10', '-i', '0.2', '-W', '2', '-q', b.ip], 30_000)
    const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout)
    return { from: a.index, to: b.index, configuredMs: rtt[a.site]![b.site]!, measuredMs: m == null ? null : Number(m[1]) }
  })
  const ok = pairs.every(p => p.measuredMs != null && Math.abs(p.measuredMs - p.configuredMs) <= p.configuredMs * 0.3 + 5)
  for (const p of pairs) log(`ping ${p.from} -> ${p.to}: configured ${p.configuredMs} ms, measured ${p.measuredMs ?? 'no reply'} ms`)
  return { pairs, ok }
}

/**
 * The scale bench's link process: the "internet" between the node namespaces. Run as its own
 * process in the root namespace (`node scale-linkd.js '<json options>'`), it opens one TUN per
 * node on the project's own binding (src/netdev/tun.ts), moves it into that node's namespace with
 * the node's address on it, and forwards every IPv4 packet a node sends to the destination node's
 * TUN after the site pair's one-way delay, through a DelayLine (loss, uplink rate cap).
 *
 * It speaks JSON lines: on stdin `{"op":"add","node":i,"netns":ns,"ip":a,"site":s}` and
 * `{"op":"stats","resetPeaks"?:true}`; on stdout `{"ok":...}` or `{"error":...}` per request, in order. When stdin
 * closes it closes every TUN (the devices go with their fds) and exits.
 */
import { createInterface } from 'node:readline'
import { createTun, type TunDevice } from '../../src/netdev/tun.js'
import { buildBatch, iterateRecords } from '../../src/netdev/records.js'
import { DelayLine, ipv4Destination, ipv4ToNumber, seededRandom, type DelayLineStats } from './scale-delayline.js'

export interface LinkdOptions {
  /** site-to-site RTT in ms */
  rtt: number[][]
  loss: number
  rateBitsPerSec: number
  maxQueueMs: number
  seed: number
  /** prefix length of the node addresses (all nodes share one subnet, routed into the TUN) */
  prefix: number
  /** TUN name inside each namespace */
  ifname: string
  mtu: number
}

export interface LinkdStats extends DelayLineStats {
  nodes: number
  /** packets that were not IPv4, or for an address no node has */
  unroutable: number
  writeDrops: number
  wakeups: number
}

async function main (): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as LinkdOptions
  const tuns: TunDevice[] = []
  const site: number[] = []
  const byIp = new Map<number, number>()
  let unroutable = 0
  let writeDrops = 0
  let wakeups = 0
  const line = new DelayLine({
    oneWayMs: (a, b) => o.rtt[site[a]!]![site[b]!]! / 2,
    loss: o.loss,
    rateBitsPerSec: o.rateBitsPerSec,
    maxQueueMs: o.maxQueueMs,
    random: seededRandom(o.seed ^ 0x5eed)
  })
  const t0 = performance.now()
  const now = (): number => performance.now() - t0
  let timer: NodeJS.Timeout | undefined
  let timerAt = Infinity

  function flush (): void {
    timer = undefined
    timerAt = Infinity
    wakeups++
    for (const [dst, packets] of line.due(now())) {
      const tun = tuns[dst]
      if (tun == null || tun.closed) { writeDrops += packets.length; continue }
      const accepted = tun.writeBatch(buildBatch(packets))
      writeDrops += packets.length - accepted
    }
    arm()
  }

  function arm (): void {
    const next = line.nextDue()
    if (next == null || next >= timerAt) return
    if (timer != null) clearTimeout(timer)
    timerAt = next
    timer = setTimeout(flush, Math.max(0, next - now()))
  }

  function onBatch (src: number, batch: Uint8Array): void {
    const t = now()
    for (const rec of iterateRecords(batch)) {
      const d = ipv4Destination(rec)
      const dst = d == null ? undefined : byIp.get(d)
      if (dst == null) { unroutable++; continue }
      // the record is a view into the read buffer, which the next read reuses: copy
      line.push(src, dst, rec.slice(), t)
    }
    arm()
  }

  async function add (req: { node: number, netns: string, ip: string, site: number }): Promise<unknown> {
    if (tuns[req.node] != null) throw new Error(`node ${req.node} exists`)
    const tun = await createTun({ name: o.ifname, netns: req.netns, addresses: [`${req.ip}/${o.prefix}`], mtu: o.mtu })
    tuns[req.node] = tun
    site[req.node] = req.site
    byIp.set(ipv4ToNumber(req.ip), req.node)
    tun.onBatch(b => { onBatch(req.node, b) })
    return { node: req.node, ifname: tun.name }
  }

  function stats (resetPeaks: boolean): LinkdStats {
    const s = { nodes: byIp.size, ...line.stats, unroutable, writeDrops, wakeups }
    if (resetPeaks) line.resetPeaks()
    return s
  }

  const rl = createInterface({ input: process.stdin })
  // requests are answered in order: a slow `add` (ip commands) holds the ones behind it
  let chain = Promise.resolve()
  rl.on('line', (l) => {
    chain = chain.then(async () => {
      try {
        const req = JSON.parse(l) as { op: string } & Record<string, unknown>
        const result = req.op === 'add' ? await add(req as never) : req.op === 'stats' ? stats(req.resetPeaks === true) : undefined
        if (result === undefined) throw new Error(`unknown op ${req.op}`)
        process.stdout.write(JSON.stringify({ ok: result }) + '\n')
      } catch (err) {
        process.stdout.write(JSON.stringify({ error: `${(err as Error).name}: ${(err as Error).message}` }) + '\n')
      }
    })
  })
  await new Promise<void>(resolve => rl.once('close', resolve))
  await chain
  if (timer != null) clearTimeout(timer)
  for (const t of tuns) if (t != null) await t.close()
}

main().then(() => { process.exit(0) }, (err) => {
  process.stderr.write(`scale-linkd: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})

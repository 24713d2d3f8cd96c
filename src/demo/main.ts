/**
 * `npm start`: a local dmsnet demo network. Starts N nodes (default 3) in this process on
 * loopback with temporary data dirs, prints discovery and connection events as they happen and a
 * status table every few seconds, runs the demo steps (steps/index.ts; as root the last one runs
 * three real daemons in network namespaces of their own and pings across their VPN), and keeps
 * going until Ctrl-C, which stops every node and daemon and removes the temporary dirs and
 * namespaces.
 *
 *   node dist/src/demo/main.js [--nodes 3] [--duration <s>] [--status-interval <s>] [--no-mdns]
 *   env: DMSNET_DEMO_DURATION (seconds; tests use it), DMSNET_LOG_LEVEL (default warn)
 */
import { parseArgs } from 'node:util'
import { onShutdown } from '../daemon/shutdown.js'
import { startCluster, type Cluster, type DemoNode } from './cluster.js'
import { createPrinter, type Printer } from './printer.js'
import { steps } from './steps/index.js'
import { table } from '../cli/format.js'
import type { UiModule } from '../daemon/features/ui.js'
import { withTimeout } from '../util/signal.js'

function usage (msg: string): never {
  process.stderr.write(`demo: ${msg}\nusage: node dist/src/demo/main.js [--nodes 3-8] [--duration <seconds>] [--status-interval <seconds>] [--no-mdns]\n`)
  process.exit(2)
}

function intArg (name: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw == null) return dflt
  const v = Number(raw)
  if (!Number.isInteger(v) || v < min || v > max) usage(`--${name}: got "${raw}", expected an integer ${min}-${max}`)
  return v
}

/** Prints one line per interesting event of a node. */
function watch (n: DemoNode, print: Printer): void {
  const net = n.node.network
  net.eventRegister('peer:connectedness', d => {
    print.line(n.name, d.connectedness === 'connected' ? `connected    -> ${print.peer(d.peerId)}` : `disconnected -> ${print.peer(d.peerId)}`)
  })
  const identified = new Set<string>()
  net.eventRegister('peer:connectedness', d => { if (d.connectedness !== 'connected') identified.delete(d.peerId) })
  net.eventRegister('peer:identified', d => {
    // identify runs once per connection; one line per peer is enough
    if (identified.has(d.peerId)) return
    identified.add(d.peerId)
    print.line(n.name, `identified      ${print.peer(d.peerId)} (${d.agentVersion ?? '?'}, ${d.protocols.length} protocols)`)
  })
  let reachability = ''
  net.eventRegister('reachability:changed', d => {
    if (d.reachability === reachability) return
    reachability = d.reachability
    print.line(n.name, `reachability    ${d.reachability}`)
  })
  // discovery repeats (mDNS every few seconds, again after each host switch): one line per peer
  const discovered = new Set<string>()
  net.eventRegister('peer:discovered', d => {
    if (discovered.has(d.peerId)) return
    discovered.add(d.peerId)
    print.line(n.name, `discovered      ${print.peer(d.peerId)}`)
  })
  net.eventRegister('host:changed', d => {
    print.line(n.name, `host restarted on profile ${d.profile.name} (same identity)`)
  })
}

async function statusTable (cluster: Cluster, print: Printer, signal: AbortSignal): Promise<string> {
  const rows: string[][] = []
  for (const n of cluster.nodes) {
    if (!n.node.started) continue
    const net = n.node.network
    const peers = net.peers()
    const rtts: string[] = []
    for (const p of peers) {
      if (signal.aborted) break
      try {
        const ms = await net.ping(p, { signal: withTimeout(signal, 2000) })
        rtts.push(`${print.peer(p)} ${ms < 1 ? '<1' : ms < 10 ? ms.toFixed(1) : Math.round(ms)}ms`)
      } catch {
        rtts.push(`${print.peer(p)} -`)
      }
    }
    const status = await net.status()
    const listen = status.listenAddrs.find(a => a.includes('/tcp/')) ?? '-'
    rows.push([n.name, shortPeer(n.node.peerId), status.profile, listen, String(peers.length), String(status.connections.length), rtts.join(', ') || '-'])
  }
  return table(['NODE', 'PEER ID', 'PROFILE', 'LISTEN', 'PEERS', 'CONNS', 'PING RTT'], rows)
}

function shortPeer (id: string): string {
  return `${id.slice(0, 12)}…${id.slice(-4)}`
}

async function main (): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      options: {
        nodes: { type: 'string' },
        duration: { type: 'string' },
        'status-interval': { type: 'string' },
        'no-mdns': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    usage((err as Error).message)
  }
  if (parsed.values.help === true) usage('a local dmsnet network on loopback')
  const size = intArg('nodes', parsed.values.nodes, 3, 3, 8)
  const durationS = intArg('duration', parsed.values.duration ?? process.env.DMSNET_DEMO_DURATION, 0, 0, 86_400)
  const intervalS = intArg('status-interval', parsed.values['status-interval'], 10, 1, 3600)
  const mdns = parsed.values['no-mdns'] !== true && process.env.DMSNET_DEMO_MDNS !== '0'

  const print = createPrinter()
  const controller = new AbortController()
  const held: { cluster?: Cluster } = {}
  const stopHooks: Array<() => Promise<void>> = []
  const shutdown = onShutdown(async () => {
    controller.abort()
    print.line('demo', 'stopping every node…')
    // steps' leftovers first (the VPN step's daemons and namespaces): they never throw by contract,
    // but one that does must not keep the nodes and temporary dirs alive
    for (const hook of stopHooks.splice(0).reverse()) {
      await hook().catch(err => { print.line('demo', `cleanup failed: ${(err as Error).message}`) })
    }
    await held.cluster?.stop()
    if (held.cluster != null) print.line('demo', `stopped; removed ${held.cluster.baseDir}`)
  }, {
    // the VPN step's daemons take a few seconds to stop; a second Ctrl-C still forces the exit
    timeoutMs: 40_000,
    onSignal: sig => { process.stdout.write('\n'); print.line('demo', `${sig}: shutting down (again to force)`) }
  })

  print.raw(`dmsnet demo: ${size} nodes on 127.0.0.1, LAN profile, mDNS ${mdns ? 'on' : 'off'}, n1 is the bootstrap peer`)
  const cluster = await startCluster({ size, mdns, metrics: true, logLevel: process.env.DMSNET_LOG_LEVEL ?? 'warn' }, {
    starting: n => {
      print.name(n.peerId, n.name)
      print.line('demo', `starting ${n.name} (data dir ${n.dataDir})`)
    },
    started: n => {
      watch(n, print)
      const addr = n.node.network.getMultiaddrs().map(String).find(a => a.includes('/tcp/'))
      print.line(n.name, `up: ${n.node.peerId} at ${addr ?? '-'}`)
    }
  }).catch(err => {
    print.line('demo', `start failed: ${(err as Error).name}: ${(err as Error).message}`)
    throw err
  })
  held.cluster = cluster
  print.line('demo', `data dirs under ${cluster.baseDir} (removed on exit)`)
  if (cluster.nodes[0]?.node.metricsUrl != null) print.line('n1', `metrics: ${cluster.nodes[0].node.metricsUrl}`)
  const statusPage = cluster.nodes[0]?.node.module<UiModule>('ui')
  const uiHint = `npx dmsnet ui --data-dir ${cluster.nodes[0]?.dataDir ?? '?'}`
  if (statusPage != null) print.line('n1', `status page: ${statusPage.login().url} (one-time link; for another: ${uiHint})`)

  for (const [i, step] of steps.entries()) {
    if (controller.signal.aborted) break
    print.line('demo', `step ${i + 1}/${steps.length}: ${step.title}`)
    try {
      await step.run({ nodes: cluster.nodes, print, signal: controller.signal, onStop: fn => { stopHooks.push(fn) } })
    } catch (err) {
      // one failed step is reported; the next ones still run
      if (!controller.signal.aborted) print.line('demo', `step failed: ${(err as Error).name}: ${(err as Error).message}`)
    }
  }

  if (!controller.signal.aborted) {
    print.line('demo', `running; a status table every ${intervalS}s. Try: npx dmsnet status --data-dir ${cluster.nodes[0]!.dataDir}`)
    print.line('demo', durationS > 0 ? `stopping by itself after ${durationS}s (or Ctrl-C)` : 'Ctrl-C to stop')
  }
  if (durationS > 0) setTimeout(() => { shutdown.trigger() }, durationS * 1000).unref()

  const tick = async (): Promise<void> => {
    if (controller.signal.aborted) return
    const text = await statusTable(cluster, print, controller.signal).catch(() => undefined)
    if (text != null && !controller.signal.aborted) {
      const page = statusPage != null ? `\nn1's status page: ${uiHint} prints a login link\n` : ''
      print.raw('\n' + text + '\n' + page)
    }
  }
  await tick()
  const timer = setInterval(() => { void tick() }, intervalS * 1000)
  await shutdown.done
  clearInterval(timer)
}

main().then(() => { process.exit(0) }, err => {
  process.stderr.write(`demo: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})

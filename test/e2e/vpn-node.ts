/**
 * One dmsnet node with a VPN, driven over stdin/stdout JSON lines: the e2e tests and the VPN
 * benchmark start one of these per network namespace (`ip netns exec NS node vpn-node.js ...`).
 * Runs compiled (dist/test/e2e/vpn-node.js) or from source under tsx.
 *
 *   argv: --data DIR --listen MULTIADDR[,...] [--name LABEL] [--no-offload] [--mtu N] [--relay-server|--relay-client]
 *         [--accept-invites PEER,...|*] (default *) [--vpn-config JSON] (merged into config.vpn)
 *   in:   {"id":1,"cmd":"start","peers":[{"peerId":"...","addrs":["..."]}]}
 *   out:  {"id":1,"ok":true,"result":{...}}   (or "ok":false,"error":{name,message})
 * The first line written is {"ready":true,"peerId":"...","addrs":[...]}.
 */
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { readFile, writeFile } from 'node:fs/promises'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { Session } from 'node:inspector/promises'
import { constants as perfConstants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import { loadConfig } from '../../src/config/load.js'
import { createNetwork } from '../../src/network/network.js'
import { createVpn } from '../../src/vpn/vpn.js'
import { acceptsInvite } from '../../src/vpn/accept-invite.js'
import { hostileCommand } from './vpn-hostile-commands.js'
import { pause } from '../helpers/wait.js'
import { netdevTunFactory } from '../../src/vpn/tun-device.js'
import { buildBatch, VNET_HDR_LEN } from '../../src/netdev/records.js'
import { buildIPv4, icmpEcho } from '../../src/vpn/packet.js'
import { parseIPv4 } from '../../src/vpn/ip.js'
import { createLogger } from '../../src/logging.js'
import type { VpnPeerSpec } from '../../src/vpn/types.js'

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    listen: { type: 'string' },
    name: { type: 'string' },
    'no-offload': { type: 'boolean', default: false },
    mtu: { type: 'string' },
    'relay-server': { type: 'boolean', default: false },
    'relay-client': { type: 'boolean', default: false },
    'accept-invites': { type: 'string', default: '*' },
    'vpn-config': { type: 'string' }
  }
})
if (values.data == null || values.listen == null) {
  process.stderr.write('usage: vpn-node --data DIR --listen MULTIADDR [--name LABEL]\n')
  process.exit(2)
}

const config = loadConfig({
  base: {
    dataDir: values.data,
    logging: { level: process.env.DMSNET_LOG_LEVEL ?? 'warn' },
    network: {
      listen: values.listen.split(','),
      dht: { mode: 'server', addressFilter: 'all' },
      autonat: { enabled: false },
      dcutr: { enabled: false },
      relay: values['relay-server'] === true
        ? { client: false, server: true, durationLimitMs: 3_600_000, dataLimitBytes: 2 ** 40 }
        : { client: values['relay-client'] === true },
      mdns: { enabled: false }
    },
    vpn: { ...(values.mtu != null ? { mtu: Number(values.mtu) } : {}), interfaceName: 'dvpn0', ...(values['vpn-config'] != null ? JSON.parse(values['vpn-config']) as object : {}) }
  }
})

const network = await createNetwork({ config })
await network.start()
const offload = values['no-offload'] !== true
const vpn = await createVpn({
  network,
  config: { ...config.vpn, dataDir: config.dataDir },
  tun: netdevTunFactory(),
  logger: createLogger('vpn', config.logging.level),
  name: values.name,
  offload,
  // the library refuses invitations by default; these test nodes trust whom --accept-invites names
  acceptInvite: (authority) => acceptsInvite(values['accept-invites'].split(','), undefined, authority)
})

/** Bare libp2p stream sink/source for the benchmark's `stream_gbps` baseline. */
const BULK = '/dmsnet-bench/bulk/1'
await network.handle(BULK, (stream) => {
  let n = 0
  stream.addEventListener('message', (evt) => { n += evt.data.byteLength })
  stream.addEventListener('remoteCloseWrite', () => {
    stream.send(new TextEncoder().encode(String(n)))
    void stream.close()
  })
})

/** Bare libp2p stream echo for the benchmark's `stream_rtt_ms` (round trips on one open stream, like ping over the VPN's). */
const ECHO = '/dmsnet-bench/echo/1'
await network.handle(ECHO, (stream) => {
  stream.addEventListener('message', (evt) => { stream.send(evt.data) })
  stream.addEventListener('remoteCloseWrite', () => { void stream.close() })
})

/**
 * Garbage collections since start, by kind (main-thread pause ms; the concurrent marking threads'
 * CPU is in `cpu`): the benchmark reports them per phase, to tell GC state apart from the data path.
 */
const gcStats = { minor: 0, major: 0, incremental: 0, weak: 0, pauseMs: 0, majorPauseMs: 0 }
new PerformanceObserver((list) => {
  for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
    const kind = e.detail?.kind
    gcStats.pauseMs += e.duration
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) { gcStats.major++; gcStats.majorPauseMs += e.duration } else if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gcStats.minor++
    else if (kind === perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL) gcStats.incremental++
    else gcStats.weak++
  }
}).observe({ entryTypes: ['gc'] })

function out (obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}

type Cmd = { id: number, cmd: string } & Record<string, unknown>

let profiler: Session | undefined

async function run (c: Cmd): Promise<unknown> {
  switch (c.cmd) {
    case 'start': return await vpn.start(c.peers as VpnPeerSpec[] | undefined)
    case 'add': return await vpn.addPeer(c.peer as VpnPeerSpec)
    case 'remove': await vpn.removePeer(c.peerId as string); return vpn.status()
    case 'status': return vpn.status()
    case 'stop': await vpn.stop({ forget: c.forget === true }); return vpn.status()
    case 'attach': return await vpn.attachNamespace(c.netns as string)
    case 'detach': await vpn.detachNamespace(c.netns as string); return true
    case 'mapPort': return await vpn.mapPort({ protocol: c.protocol as 'tcp' | 'udp', port: c.port as number, to: c.to as { address: string, port?: number } })
    case 'unmapPort': await vpn.unmapPort(c.mapId as string); return true
    case 'dial': await network.dial(c.addr as string); return true
    case 'addrs': return network.host.getMultiaddrs().map(a => a.toString())
    case 'waitLink': await vpn.waitForLink(c.peerId as string, { signal: AbortSignal.timeout((c.timeoutMs as number | undefined) ?? 15_000) }); return true
    case 'spoof': {
      // A forged packet straight onto the tunnel stream: inner source `src`, not ours.
      const pkt = buildIPv4(parseIPv4(c.src as string), parseIPv4(c.dst as string), 1, icmpEcho(0x5a5a, 1))
      const payload = offload ? new Uint8Array(VNET_HDR_LEN + pkt.byteLength) : pkt
      if (offload) payload.set(pkt, VNET_HDR_LEN)
      const n = (c.count as number | undefined) ?? 1
      return vpn.injectRecords(c.peerId as string, buildBatch(Array.from({ length: n }, () => payload)))
    }
    case 'bulk': {
      // Sends `bytes` (or for `seconds`, whichever ends first) over a bare libp2p stream and
      // returns Gbit/s (the stream baseline; the benchmark gives it as long as an iperf3 run).
      const stream = await network.dialProtocol(c.peerId as string, BULK)
      const chunk = new Uint8Array(64 * 1024)
      const total = (c.bytes as number | undefined) ?? Number.MAX_SAFE_INTEGER
      const t0 = performance.now()
      const until = c.seconds == null ? Infinity : t0 + (c.seconds as number) * 1000
      let sent = 0
      const got = new Promise<number>((resolve) => {
        stream.addEventListener('message', (evt) => { resolve(Number(new TextDecoder().decode(evt.data.subarray()))) })
      })
      while (sent < total && performance.now() < until) {
        // the 'drain' event, not onDrain(): @libp2p/utils 7.4.1 never resets onDrain's promise, so
        // after a stream's first drain it resolves at once and the loop would only fill a buffer
        if (!stream.send(chunk)) await new Promise(resolve => { stream.addEventListener('drain', resolve, { once: true }) })
        // send() may also keep accepting without a drain: let the data go out (and the clock be
        // read against bytes that moved) every MiB, or a timed run would only fill a buffer
        else if ((sent & 0xfffff) === 0 && until !== Infinity) await yieldToLoop()
        sent += chunk.byteLength
      }
      await stream.close()
      const received = await got
      const secs = (performance.now() - t0) / 1000
      return { bytes: received, seconds: secs, gbps: received * 8 / secs / 1e9 }
    }
    case 'cpu': return process.cpuUsage() // for the benchmark's CPU-s/GB figures
    case 'sched': {
      // the main thread's time on a CPU and waiting for one (ns, /proc/self/schedstat): bench vpn's
      // `*_sched` tell CPU-bound (runnable, waiting for a CPU) from waiting for work
      const [runNs, waitNs] = (await readFile('/proc/self/schedstat', 'utf8')).split(' ').map(Number)
      return { runNs, waitNs }
    }
    case 'gc': {
      // with the heap and ArrayBuffer bytes at this moment: a major GC storm with a flat heap
      // points at external memory (the benchmark records both per phase)
      const m = process.memoryUsage()
      return { ...gcStats, heapUsedMb: m.heapUsed / 2 ** 20, arrayBuffersMb: m.arrayBuffers / 2 ** 20 }
    }
    case 'profile': {
      // CPU profile of this node for `npm run bench -- vpn --profile DIR`: start, then stop into `file`
      if (c.action === 'start') {
        profiler ??= new Session()
        profiler.connect()
        await profiler.post('Profiler.enable')
        await profiler.post('Profiler.start')
        return true
      }
      if (profiler == null) throw new Error('profile not started')
      const { profile } = await profiler.post('Profiler.stop')
      profiler.disconnect()
      profiler = undefined
      await writeFile(c.file as string, JSON.stringify(profile))
      return true
    }
    case 'rtt': {
      // `count` 64-byte round trips on one open bare stream, `intervalMs` apart (as ping -i): ms each.
      const stream = await network.dialProtocol(c.peerId as string, ECHO)
      const count = (c.count as number | undefined) ?? 40
      const intervalMs = (c.intervalMs as number | undefined) ?? 50
      const msg = new Uint8Array(64)
      const rtts: number[] = []
      let got = 0
      let wake: (() => void) | undefined
      stream.addEventListener('message', (evt) => { got += evt.data.byteLength; if (got >= msg.byteLength) { got -= msg.byteLength; wake?.() } })
      for (let i = 0; i < count; i++) {
        const t0 = process.hrtime.bigint()
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => { reject(new Error('echo round trip timed out (5 s)')) }, 5000)
          wake = () => { clearTimeout(timer); resolve() }
          stream.send(msg)
        })
        rtts.push(Number(process.hrtime.bigint() - t0) / 1e6)
        await pause(intervalMs) // pacing between round trips, as ping -i
      }
      await stream.close()
      return { rtts }
    }
    default: {
      const r = await hostileCommand({ network, vpn }, c)
      if (r === undefined) throw new Error(`unknown command ${c.cmd}`)
      return r
    }
  }
}

let stopping = false
async function shutdown (): Promise<void> {
  if (stopping) return
  stopping = true
  try { await vpn.stop() } catch { /* exiting anyway */ }
  try { await network.stop() } catch { /* exiting anyway */ }
  process.exit(0)
}
process.on('SIGTERM', () => { void shutdown() })
process.on('SIGINT', () => { void shutdown() })

const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  let c: Cmd
  try {
    c = JSON.parse(line) as Cmd
  } catch {
    out({ ok: false, error: { name: 'SyntaxError', message: 'bad JSON' } })
    return
  }
  run(c).then(
    (result) => { out({ id: c.id, ok: true, result }) },
    (err: Error) => { out({ id: c.id, ok: false, error: { name: err.name, message: err.message } }) }
  )
})
rl.on('close', () => { void shutdown() })

out({ ready: true, peerId: network.peerId.toString(), addrs: network.host.getMultiaddrs().map(a => a.toString()) })

/**
 * Benchmark: a userspace TUN forwarder on our native TUN binding against the bare veth.
 *
 * Two namespaces A and B joined by a veth. In each, a TUN device and a forwarder process (this
 * file with --forwarder, started with `ip netns exec`) that moves TUN batches to the peer over the
 * veth and writes what it receives into its TUN. iperf3 TCP runs between the TUN addresses; the
 * same iperf3 directly over the veth is the baseline, measured in the same run.
 *
 * Transports between the forwarders:
 *  - udp: one datagram per packet (plain TUN, packets <= MTU). A 60 KB GSO super-packet does not
 *    fit a datagram, so offload mode is not offered over UDP (it would need software segmentation).
 *  - tcp: one TCP connection; a TUN batch (records: u32 length | payload) is written as is and the
 *    receiver cuts the byte stream back at record boundaries. This carries offload super-packets
 *    unchanged, like the VPN tunnel does over its stream.
 *
 * Usage: npm run bench -- tun [--seconds 5] [--runs 3] [--configs udp-1420,tcp-1420,tcp-offload,tcp-offload-p4]
 * Last stdout line: JSON with tun_fwd_gbps (tcp-offload, 1 flow), veth_gbps, ratio, and every config.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { createNetns, deleteNetns } from '../src/netdev/netns.js'
import { BatchBuilder, iterateRecords } from '../src/netdev/records.js'
import { createTun } from '../src/netdev/tun.js'
import { createVeth } from '../src/netdev/veth.js'

const PORT = 7777
const log = (msg: string): void => { process.stderr.write(`[tun-bench] ${msg}\n`) }

interface FwdArgs { transport: 'udp' | 'tcp', mtu: number, offload: boolean, tunAddr: string, local: string, peer: string, name: string }

/** The forwarder: runs inside one namespace. */
async function forwarder (a: FwdArgs): Promise<void> {
  const tun = await createTun({ name: a.name, mtu: a.mtu, offload: a.offload, addresses: [a.tunAddr] })
  const shutdown = (): void => { void tun.close().then(() => process.exit(0)) }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
  if (a.transport === 'udp') {
    const sock = createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 })
    await new Promise<void>(resolve => sock.bind(PORT, a.local, resolve))
    sock.on('error', () => {}) // ICMP unreachable before the peer binds: UDP loses packets, that is all
    sock.connect(PORT, a.peer)
    await new Promise<void>(resolve => sock.once('connect', resolve))
    tun.onBatch(batch => { for (const rec of iterateRecords(batch)) sock.send(rec) })
    const bb = new BatchBuilder(1 << 20)
    let scheduled = false
    sock.on('message', msg => {
      bb.push(msg)
      if (!scheduled) {
        scheduled = true
        setImmediate(() => { scheduled = false; tun.writeBatch(bb.take()) })
      }
    })
  } else {
    // two connections, one per direction: each side receives on the connection it dialled, so
    // the receive path can use `onread` (libuv reads straight into one 4 MiB buffer we own: no
    // allocation per chunk, whole records are cut out in place and handed to the TUN)
    const acceptOut = new Promise<Socket>(resolve => {
      const srv = createServer(s => { srv.close(); resolve(s) })
      srv.listen(PORT, a.local, () => { console.log('listening') })
    })
    const rbuf = Buffer.allocUnsafe(4 << 20)
    let filled = 0
    const onRead = (n: number, buf: Buffer): boolean => {
      // the buffer libuv filled is rbuf.subarray(filled): account and cut whole records
      void buf
      filled += n
      let o = 0
      while (o + 4 <= filled) {
        const len = rbuf.readUInt32BE(o)
        if (o + 4 + len > filled) break
        o += 4 + len
      }
      if (o > 0) tun.writeBatch(rbuf.subarray(0, o))
      if (o > 0 && o < filled) rbuf.copy(rbuf, 0, o, filled)
      filled -= o
      return true
    }
    let incoming: Socket | undefined
    for (let attempt = 0; incoming == null; attempt++) {
      incoming = await new Promise<Socket | undefined>(resolve => {
        const s = connect({
          host: a.peer,
          port: PORT,
          localAddress: a.local,
          onread: { buffer: () => rbuf.subarray(filled), callback: onRead }
        }, () => { resolve(s) })
        s.once('error', () => { resolve(undefined) })
      })
      if (incoming == null) {
        if (attempt > 200) throw new Error('cannot reach the peer forwarder')
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
    const out = await acceptOut
    out.setNoDelay(true)
    // backpressure: stop reading the TUN while the socket's buffer is full; the TUN queue then
    // fills and drops, which is the signal the inner TCP needs
    let off: (() => void) | undefined
    const read = (): void => {
      off = tun.onBatch(batch => {
        if (!out.write(batch)) { off?.(); off = undefined; out.once('drain', read) }
      })
    }
    read()
    for (const s of [incoming, out]) {
      s.on('close', shutdown)
      s.on('error', shutdown)
    }
  }
  console.log('ready')
}

// ---------------------------------------------------------------- orchestrator

function execP (cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err != null) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`))
      else resolve(String(stdout))
    })
  })
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const stats = (xs: number[]): { median: number, min: number, max: number, runs: number[] } =>
  ({ median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)), runs: xs.map(round) })
const round = (x: number): number => Math.round(x * 1000) / 1000

async function waitLine (child: ChildProcess, word: string, timeoutMs = 15_000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { reject(new Error(`timeout waiting for "${word}"`)) }, timeoutMs)
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); if (out.includes(word)) { clearTimeout(timer); resolve() } })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`forwarder exited ${code} before "${word}"`)) })
  })
}

async function iperf (ns: string, server: string, seconds: number, parallel: number): Promise<number> {
  return (await iperfBytes(ns, server, seconds, parallel)).gbps
}

async function iperfBytes (ns: string, server: string, seconds: number, parallel: number): Promise<{ gbps: number, bytes: number }> {
  const out = await execP('ip', ['netns', 'exec', ns, 'iperf3', '-c', server, '-t', String(seconds), '-P', String(parallel), '-J'], (seconds + 30) * 1000)
  const r = JSON.parse(out) as { end: { sum_received: { bits_per_second: number, bytes: number } } }
  return { gbps: r.end.sum_received.bits_per_second / 1e9, bytes: r.end.sum_received.bytes }
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 1/100 s). */
function cpuSeconds (pid: number | undefined): number {
  if (pid == null) return 0
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

async function pingMs (ns: string, addr: string): Promise<number> {
  const out = await execP('ip', ['netns', 'exec', ns, 'ping', '-q', '-c', '20', '-i', '0.05', '-W', '2', addr])
  const m = /= [\d.]+\/([\d.]+)\//.exec(out)
  if (m == null) throw new Error(`ping ${addr} from ${ns}: no RTT summary in ${JSON.stringify(out.slice(-200))}`)
  return Number(m[1])
}

interface Config { name: string, transport: 'udp' | 'tcp', mtu: number, offload: boolean, parallel: number }
const CONFIGS: Record<string, Config> = {
  'udp-1420': { name: 'udp-1420', transport: 'udp', mtu: 1420, offload: false, parallel: 1 },
  'tcp-1420': { name: 'tcp-1420', transport: 'tcp', mtu: 1420, offload: false, parallel: 1 },
  'tcp-9000': { name: 'tcp-9000', transport: 'tcp', mtu: 9000, offload: false, parallel: 1 },
  'tcp-offload': { name: 'tcp-offload', transport: 'tcp', mtu: 1500, offload: true, parallel: 1 },
  'tcp-offload-p4': { name: 'tcp-offload-p4', transport: 'tcp', mtu: 1500, offload: true, parallel: 4 }
}

async function main (): Promise<void> {
  const arg = (k: string, d: string): string => { const i = process.argv.indexOf(`--${k}`); return i >= 0 ? process.argv[i + 1] ?? d : d }
  const seconds = Number(arg('seconds', '5'))
  const runs = Number(arg('runs', '3'))
  const configs = arg('configs', 'udp-1420,tcp-1420,tcp-9000,tcp-offload,tcp-offload-p4').split(',').map(c => {
    const cfg = CONFIGS[c]
    if (cfg == null) throw new Error(`unknown config ${c}; known: ${Object.keys(CONFIGS).join(', ')}`)
    return cfg
  })
  const tag = `${process.pid % 100000}`
  const nsA = `dmsb${tag}-a`
  const nsB = `dmsb${tag}-b`
  const children = new Set<ChildProcess>()
  let cleaned = false
  const cleanup = async (): Promise<void> => {
    if (cleaned) return
    cleaned = true
    for (const c of children) c.kill('SIGTERM')
    await new Promise(resolve => setTimeout(resolve, 200))
    for (const c of children) c.kill('SIGKILL')
    await deleteNetns(nsA).catch(() => {})
    await deleteNetns(nsB).catch(() => {})
  }
  const onSignal = (): void => { void cleanup().then(() => process.exit(130)) }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const self = fileURLToPath(import.meta.url)
  const nodeArgs = [...process.execArgv.filter(a => !a.startsWith('--max-semi-space-size')), '--max-semi-space-size=64', self]
  const spawnIn = (ns: string, args: string[]): ChildProcess => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.add(c)
    c.on('exit', () => children.delete(c))
    return c
  }

  const result: Record<string, unknown> = { seconds, runs }
  try {
    await createNetns(nsA)
    await createNetns(nsB)
    await createVeth({ a: { name: `vb${tag}a`, netns: nsA, addresses: ['10.90.0.1/24'] }, b: { name: `vb${tag}b`, netns: nsB, addresses: ['10.90.0.2/24'] } })
    const server = spawn('ip', ['netns', 'exec', nsB, 'iperf3', '-s'], { stdio: 'ignore' })
    children.add(server)
    await new Promise(resolve => setTimeout(resolve, 500))

    const veth: number[] = []
    for (let i = 0; i < runs; i++) {
      veth.push(await iperf(nsA, '10.90.0.2', seconds, 1))
      log(`veth run ${i + 1}: ${veth.at(-1)!.toFixed(2)} Gbit/s`)
    }
    result.veth = stats(veth)
    result.veth_gbps = round(median(veth))
    result.veth_ping_ms = await pingMs(nsA, '10.90.0.2')

    const perConfig: Record<string, unknown> = {}
    for (const cfg of configs) {
      const common = ['--forwarder', '--transport', cfg.transport, '--mtu', String(cfg.mtu), '--offload', String(cfg.offload)]
      const fb = spawnIn(nsB, [...common, '--name', 'dmstun0', '--tun-addr', '10.91.0.2/24', '--local', '10.90.0.2', '--peer', '10.90.0.1'])
      const fa = spawnIn(nsA, [...common, '--name', 'dmstun0', '--tun-addr', '10.91.0.1/24', '--local', '10.90.0.1', '--peer', '10.90.0.2'])
      await Promise.all([waitLine(fa, 'ready'), waitLine(fb, 'ready')])
      const xs: number[] = []
      const cpu: number[] = []
      try {
        for (let i = 0; i < runs; i++) {
          // a failed run fails the benchmark (exit 1): it is never a zero nor left out of the median
          let r: { gbps: number, bytes: number }
          const before = cpuSeconds(fa.pid) + cpuSeconds(fb.pid)
          try {
            r = await iperfBytes(nsA, '10.91.0.2', seconds, cfg.parallel)
          } catch (err) {
            throw new Error(`${cfg.name} run ${i + 1} failed: ${(err as Error).message.split('\n')[0]}`, { cause: err })
          }
          const used = cpuSeconds(fa.pid) + cpuSeconds(fb.pid) - before
          xs.push(r.gbps)
          cpu.push(used / (r.bytes / 1e9))
          log(`${cfg.name} run ${i + 1}: ${r.gbps.toFixed(2)} Gbit/s, forwarders ${cpu.at(-1)!.toFixed(2)} CPU-s/GB`)
        }
        const ping = await pingMs(nsA, '10.91.0.2')
        perConfig[cfg.name] = { ...stats(xs), ping_ms: ping, fwd_cpu_s_per_gb: round(median(cpu)), mtu: cfg.mtu, offload: cfg.offload, transport: cfg.transport, flows: cfg.parallel }
      } finally {
        fa.kill('SIGTERM')
        fb.kill('SIGTERM')
        await new Promise(resolve => setTimeout(resolve, 300))
      }
    }
    result.configs = perConfig
    const main = (perConfig['tcp-offload'] ?? Object.values(perConfig)[0]) as { median: number } | undefined
    result.tun_fwd_config = perConfig['tcp-offload'] != null ? 'tcp-offload' : configs[0]?.name
    result.tun_fwd_gbps = main?.median ?? 0
    result.ratio = round((main?.median ?? 0) / (result.veth_gbps as number))
  } finally {
    await cleanup()
  }
  console.log(JSON.stringify({ bench: 'tun', ...result }))
}

if (process.argv.includes('--forwarder')) {
  const arg = (k: string): string => { const i = process.argv.indexOf(`--${k}`); return process.argv[i + 1] ?? '' }
  forwarder({
    transport: arg('transport') === 'udp' ? 'udp' : 'tcp',
    mtu: Number(arg('mtu')),
    offload: arg('offload') === 'true',
    tunAddr: arg('tun-addr'),
    local: arg('local'),
    peer: arg('peer'),
    name: arg('name')
  }).catch(err => { console.error(err); process.exit(1) })
} else {
  main().catch(err => { console.error(err); process.exit(1) })
}

/**
 * Benchmark: a bare libp2p stream (dmsnet's host: TCP + noise + yamux with a 16 MiB window)
 * against Node's raw `net` TCP and `tls` (TLS 1.3), two processes over loopback, same run.
 *
 * Throughput: the client writes BYTES in 64 KiB chunks, honouring backpressure (`send()` false ->
 * `onDrain()`; `write()` false -> 'drain'), and the server answers one byte once it has them all.
 * Latency: 64-byte messages echoed one at a time on an already open stream/socket.
 *
 * Usage: npm run bench -- stream [--runs 5] [--mb 200] [--pings 2000] [--window <yamux receive window bytes>] [--frame <max yamux frame bytes, 0 = no cap>]
 * The same file runs the server when given `--server` (spawned by the client).
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createNetServer, connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import type { Config } from '../src/config/index.js'
import { createNetwork } from '../src/network/network.js'
import type { Network } from '../src/network/types.js'
import type { Stream } from '@libp2p/interface'
import { echoHandler, echoRtt, loopbackConfig } from './_lib/libp2p.js'
import { numArg, progress, serverAnnouncement, spawnServer, stdinClosed, stopServer, writeJsonLine } from './_lib/process.js'
import { median, minMedianMax, percentile, round } from './_lib/stats.js'
import { drained } from '../src/network/stream-drain.js'

const SINK = '/dmsnet-bench/sink/1.0.0'
const ECHO = '/dmsnet-bench/echo/1.0.0'
const CHUNK = 64 * 1024
const PING_SIZE = 64

/** `--frame 0` is meaningful (no cap on yamux frames), so zero is a valid value here. */
const arg = (name: string, dflt: number): number => numArg(name, dflt, true)

const log = progress('stream')

function benchConfig (dataDir: string): Config {
  return loopbackConfig(dataDir, {
    // `--window <bytes>` compares yamux windows (default: the config default, 16 MiB)
    yamux: {
      ...(arg('window', 0) > 0 ? { initialStreamWindowSize: arg('window', 0), maxStreamWindowSize: Math.max(arg('window', 0), 16 * 1024 * 1024) } : {}),
      // `--frame <bytes>`: cap on yamux data frames (0 = no cap)
      ...(arg('frame', -1) >= 0 ? { maxFrameSize: arg('frame', -1) } : {})
    }
  })
}

function makeCert (dir: string): { key: Buffer, cert: Buffer } {
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  return { key: readFileSync(key), cert: readFileSync(cert) }
}

// ---------------------------------------------------------------- server side

/** Raw socket protocol: first byte 'S' (sink: 8-byte BE length, then data, 1-byte ack) or 'E' (echo). */
/** 8-byte big-endian CPU microseconds this process used since `since`: the sink's ack. */
function cpuAck (since: NodeJS.CpuUsage): Buffer {
  const c = process.cpuUsage(since)
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(c.user + c.system))
  return b
}

function serveSocket (sock: Socket): void {
  sock.setNoDelay(true)
  let mode: 'S' | 'E' | undefined
  let cpu0 = process.cpuUsage()
  let want = -1
  let got = 0
  let head = Buffer.alloc(0)
  sock.on('data', (buf: Buffer) => {
    if (mode == null) {
      mode = String.fromCharCode(buf[0]!) as 'S' | 'E'
      buf = buf.subarray(1)
    }
    if (mode === 'E') { sock.write(buf); return }
    if (want < 0) {
      head = Buffer.concat([head, buf])
      if (head.length < 8) return
      want = Number(head.readBigUInt64BE(0))
      buf = head.subarray(8)
      cpu0 = process.cpuUsage()
    }
    got += buf.length
    if (got >= want) { sock.write(cpuAck(cpu0)); want = -1; got = 0; head = Buffer.alloc(0); mode = undefined }
  })
  sock.on('error', () => {})
}

async function sinkHandler (stream: Stream): Promise<void> {
  let cpu0 = process.cpuUsage()
  let want = -1
  let got = 0
  let head = new Uint8Array(0)
  for await (const chunk of stream) {
    let buf = chunk.subarray()
    if (want < 0) {
      const h = new Uint8Array(head.length + buf.length)
      h.set(head); h.set(buf, head.length)
      head = h
      if (head.length < 8) continue
      want = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0))
      buf = head.subarray(8)
      cpu0 = process.cpuUsage()
    }
    got += buf.length
    if (got >= want) {
      stream.send(cpuAck(cpu0))
      want = -1; got = 0; head = new Uint8Array(0)
    }
  }
  await stream.close().catch(() => {})
}

async function server (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-bench-srv-'))
  const net = await createNetwork({ config: benchConfig(dir) })
  await net.start()
  const opts = { maxInboundStreams: 64 }
  await net.handle(SINK, sinkHandler, opts)
  await net.handle(ECHO, echoHandler, opts)
  const tcp = createNetServer(serveSocket)
  await new Promise<void>(resolve => tcp.listen(0, '127.0.0.1', resolve))
  const { key, cert } = makeCert(dir)
  const tls = createTlsServer({ key, cert, minVersion: 'TLSv1.3' }, serveSocket)
  await new Promise<void>(resolve => tls.listen(0, '127.0.0.1', resolve))
  const info = {
    libp2p: net.host.getMultiaddrs()[0]!.toString(),
    tcp: (tcp.address() as { port: number }).port,
    tls: (tls.address() as { port: number }).port
  }
  writeJsonLine(info)
  // stop when the parent closes our stdin (or dies)
  await stdinClosed()
  tcp.close(); tls.close()
  await net.stop()
  rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

// ---------------------------------------------------------------- client side

function header (n: number): Uint8Array {
  const h = new Uint8Array(8)
  new DataView(h.buffer).setBigUint64(0, BigInt(n))
  return h
}

/** Result of one throughput run: MB/s and the receiver's CPU microseconds. */
interface Moved { mbps: number, serverCpuUs: number }

function ackReader (onAck: (cpuUs: number) => void): (chunk: Uint8Array) => void {
  let acc = Buffer.alloc(0)
  return (chunk) => {
    acc = Buffer.concat([acc, chunk])
    if (acc.length >= 8) onAck(Number(acc.readBigUInt64BE(0)))
  }
}

async function libp2pThroughput (net: Network, addr: string, bytes: number): Promise<Moved> {
  const stream = await net.dialProtocol(addr, SINK)
  let serverCpuUs = 0
  const ack = new Promise<void>((resolve, reject) => {
    const read = ackReader(us => { serverCpuUs = us; resolve() })
    stream.addEventListener('message', (evt) => { read(evt.data.subarray()) })
    stream.addEventListener('close', (evt) => { reject((evt as unknown as { error?: Error }).error ?? new Error('stream closed before ack')) }, { once: true })
  })
  const chunk = new Uint8Array(CHUNK).fill(7)
  const start = process.hrtime.bigint()
  stream.send(header(bytes))
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    if (!stream.send(chunk)) await drained(stream)
  }
  await ack
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  await stream.close().catch(() => {})
  return { mbps: bytes / secs / 1e6, serverCpuUs }
}

async function libp2pRtt (net: Network, addr: string, n: number): Promise<number[]> {
  return await echoRtt(net, addr, ECHO, PING_SIZE, n)
}

async function socketOpen (kind: 'tcp' | 'tls', port: number, mode: 'S' | 'E'): Promise<Socket> {
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = kind === 'tcp'
      ? netConnect(port, '127.0.0.1', () => { resolve(s) })
      : tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1.3' }, () => { resolve(s) })
    s.once('error', reject)
  })
  sock.setNoDelay(true)
  sock.write(Buffer.from(mode))
  return sock
}

async function socketThroughput (kind: 'tcp' | 'tls', port: number, bytes: number): Promise<Moved> {
  const sock = await socketOpen(kind, port, 'S')
  let serverCpuUs = 0
  const ack = new Promise<void>(resolve => {
    const read = ackReader(us => { serverCpuUs = us; resolve() })
    sock.on('data', (b: Buffer) => { read(b) })
  })
  const chunk = Buffer.alloc(CHUNK, 7)
  const start = process.hrtime.bigint()
  sock.write(header(bytes))
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    if (!sock.write(chunk)) await new Promise(resolve => sock.once('drain', resolve))
  }
  await ack
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  sock.destroy()
  return { mbps: bytes / secs / 1e6, serverCpuUs }
}

async function socketRtt (kind: 'tcp' | 'tls', port: number, n: number): Promise<number[]> {
  const sock = await socketOpen(kind, port, 'E')
  const msg = Buffer.alloc(PING_SIZE, 1)
  const out: number[] = []
  let pending: (() => void) | undefined
  let received = 0
  sock.on('data', (b: Buffer) => {
    received += b.length
    if (received >= PING_SIZE) { received -= PING_SIZE; pending?.() }
  })
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await new Promise<void>(resolve => { pending = resolve; sock.write(msg) })
    out.push(Number(process.hrtime.bigint() - t0) / 1e3)
  }
  sock.destroy()
  return out
}

async function client (): Promise<void> {
  const runs = arg('runs', 5)
  const bytes = Math.floor(arg('mb', 200) * 1e6 / CHUNK) * CHUNK
  const pings = arg('pings', 2000)
  const self = fileURLToPath(import.meta.url)
  const child = spawnServer(self, process.argv.slice(2))
  const deadline = setTimeout(() => { log('time limit reached, stopping'); child.kill('SIGKILL'); process.exit(1) }, 170_000)
  deadline.unref()
  try {
    const info = await serverAnnouncement<{ libp2p: string, tcp: number, tls: number }>(child)
    log(`server up: ${info.libp2p} tcp:${info.tcp} tls:${info.tls}; ${runs} runs of ${round(bytes / 1e6)} MB, ${pings} round trips`)

    const dir = mkdtempSync(join(tmpdir(), 'dmsnet-bench-cli-'))
    const net = await createNetwork({ config: benchConfig(dir) })
    await net.start()
    await net.dial(info.libp2p)

    // warm-up (JIT, TCP windows, yamux window growth)
    await libp2pThroughput(net, info.libp2p, 16 * CHUNK * 16)
    await socketThroughput('tcp', info.tcp, 16 * CHUNK * 16)
    await socketThroughput('tls', info.tls, 16 * CHUNK * 16)

    const mbps = { libp2p: [] as number[], tcp: [] as number[], tls: [] as number[] }
    // client-side CPU seconds per GB moved: less sensitive than MB/s to a busy shared VM
    const cpu = { libp2p: [] as number[], tcp: [] as number[], tls: [] as number[] }
    const srvCpu = { libp2p: [] as number[], tcp: [] as number[], tls: [] as number[] }
    const timed = async (kind: 'libp2p' | 'tcp' | 'tls', fn: () => Promise<Moved>): Promise<void> => {
      const c0 = process.cpuUsage()
      const r = await fn()
      const c = process.cpuUsage(c0)
      mbps[kind].push(r.mbps)
      cpu[kind].push((c.user + c.system) / 1e6 / (bytes / 1e9))
      srvCpu[kind].push(r.serverCpuUs / 1e6 / (bytes / 1e9))
    }
    const rttMedian = { libp2p: [] as number[], tcp: [] as number[], tls: [] as number[] }
    const rttAll = { libp2p: [] as number[], tcp: [] as number[], tls: [] as number[] }
    for (let r = 0; r < runs; r++) {
      // interleave the three paths so drift of a shared VM hits all alike
      await timed('libp2p', async () => await libp2pThroughput(net, info.libp2p, bytes))
      await timed('tcp', async () => await socketThroughput('tcp', info.tcp, bytes))
      await timed('tls', async () => await socketThroughput('tls', info.tls, bytes))
      const l = await libp2pRtt(net, info.libp2p, pings)
      const t = await socketRtt('tcp', info.tcp, pings)
      const s = await socketRtt('tls', info.tls, pings)
      rttMedian.libp2p.push(median(l)); rttAll.libp2p.push(...l)
      rttMedian.tcp.push(median(t)); rttAll.tcp.push(...t)
      rttMedian.tls.push(median(s)); rttAll.tls.push(...s)
      log(`run ${r + 1}/${runs}: MB/s libp2p ${round(mbps.libp2p[r]!)} tcp ${round(mbps.tcp[r]!)} tls ${round(mbps.tls[r]!)}; rtt us libp2p ${round(rttMedian.libp2p[r]!)} tcp ${round(rttMedian.tcp[r]!)} tls ${round(rttMedian.tls[r]!)}`)
    }
    await net.stop()
    rmSync(dir, { recursive: true, force: true })

    const m = (xs: number[]): number => round(median(xs))
    const result = {
      bench: 'stream',
      runs,
      bytes_per_run: bytes,
      write_size: CHUNK,
      ping_size: PING_SIZE,
      pings_per_run: pings,
      libp2p_mbps: m(mbps.libp2p),
      tcp_mbps: m(mbps.tcp),
      tls_mbps: m(mbps.tls),
      libp2p_rtt_us: m(rttMedian.libp2p),
      tcp_rtt_us: m(rttMedian.tcp),
      tls_rtt_us: m(rttMedian.tls),
      libp2p_rtt_p99_us: round(percentile(rttAll.libp2p, 0.99)),
      tcp_rtt_p99_us: round(percentile(rttAll.tcp, 0.99)),
      tls_rtt_p99_us: round(percentile(rttAll.tls, 0.99)),
      libp2p_vs_tcp: round(median(mbps.libp2p) / median(mbps.tcp), 3),
      libp2p_vs_tls: round(median(mbps.libp2p) / median(mbps.tls), 3),
      tls_vs_tcp: round(median(mbps.tls) / median(mbps.tcp), 3),
      libp2p_rtt_vs_tcp: round(median(rttMedian.libp2p) / median(rttMedian.tcp), 2),
      libp2p_client_cpu_s_per_gb: round(median(cpu.libp2p), 2),
      tcp_client_cpu_s_per_gb: round(median(cpu.tcp), 2),
      tls_client_cpu_s_per_gb: round(median(cpu.tls), 2),
      libp2p_server_cpu_s_per_gb: round(median(srvCpu.libp2p), 2),
      tcp_server_cpu_s_per_gb: round(median(srvCpu.tcp), 2),
      tls_server_cpu_s_per_gb: round(median(srvCpu.tls), 2),
      mbps_stats: { libp2p: minMedianMax(mbps.libp2p), tcp: minMedianMax(mbps.tcp), tls: minMedianMax(mbps.tls) },
      rtt_us_stats: { libp2p: minMedianMax(rttMedian.libp2p), tcp: minMedianMax(rttMedian.tcp), tls: minMedianMax(rttMedian.tls) }
    }
    writeJsonLine(result)
  } finally {
    await stopServer(child)
    clearTimeout(deadline)
  }
}

if (process.argv.includes('--server')) await server()
else await client()

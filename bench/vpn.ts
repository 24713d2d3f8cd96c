/**
 * Benchmark: the VPN between two network namespaces, next to the bare veth and a bare libp2p
 * stream between the same two node processes, all in one run.
 *
 * - vpn_tcp_gbps / veth_tcp_gbps: iperf3 TCP, one flow, `--secs` seconds, median of `--runs`.
 * - vpn_udp_gbps / veth_udp_gbps: iperf3 UDP, 1400-byte datagrams, offered `--udp-rate` (5G), received rate.
 * - stream_gbps: 256 MiB on a bare libp2p stream between the two vpn-node processes (the ceiling).
 * - vpn_rtt_ms / veth_rtt_ms: median ping RTT (40 pings, 50 ms apart).
 *
 * Usage: npm run bench -- vpn [--runs 3] [--secs 5] [--no-offload] [--udp-rate 5G]
 * Progress on stderr; the last stdout line is one JSON object. Needs root (namespaces, TUN).
 */
import { createVpnWorld, specOf, type VpnNodeProc, type VpnWorld } from '../test/e2e/vpn-harness.js'
import type { VpnStatus } from '../src/vpn/types.js'

const udpRateIdx = process.argv.indexOf('--udp-rate')
/** Offered UDP rate (iperf3 -b), e.g. 1G; default 5G (more than either path carries). */
const udpRate = udpRateIdx >= 0 ? process.argv[udpRateIdx + 1] ?? '5G' : '5G'

function arg (name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && v > 0 ? v : dflt
}

const log = (msg: string): void => { process.stderr.write(`[vpn] ${msg}\n`) }
const round = (x: number | undefined, d = 3): number | null => x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d

function stats (xs: number[]): { min: number, median: number, max: number } | undefined {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return { min: s[0]!, median: s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, max: s[s.length - 1]! }
}

interface IperfResult { end?: { sum_received?: { bits_per_second: number }, sum?: { bits_per_second: number, lost_percent?: number }, sum_sent?: { bits_per_second: number } }, error?: string }

async function iperf (world: VpnWorld, client: VpnNodeProc, server: VpnNodeProc, addr: string, secs: number, udp: boolean): Promise<number | undefined> {
  const srv = world.net.status(server.ns, 'iperf3', ['-s', '-1', '-B', addr], { timeoutMs: (secs + 20) * 1000 })
  await new Promise(resolve => setTimeout(resolve, 400))
  const args = ['-c', addr, '-t', String(secs), '-J']
  if (udp) args.push('-u', '-b', udpRate, '-l', '1400')
  const r = await world.net.status(client.ns, 'iperf3', args, { timeoutMs: (secs + 20) * 1000 })
  await srv
  try {
    const j = JSON.parse(r.stdout) as IperfResult
    if (j.error != null) { log(`iperf3: ${j.error}`); return undefined }
    if (udp) {
      const rx = j.end?.sum_received?.bits_per_second
      if (rx != null) return rx / 1e9
      const sum = j.end?.sum
      return sum == null ? undefined : sum.bits_per_second * (1 - (sum.lost_percent ?? 0) / 100) / 1e9
    }
    return (j.end?.sum_received?.bits_per_second ?? 0) / 1e9
  } catch {
    log(`iperf3 output unreadable: ${r.stdout.slice(0, 200)} ${r.stderr?.slice?.(0, 200) ?? ''}`)
    return undefined
  }
}

async function rtt (world: VpnWorld, from: VpnNodeProc, addr: string): Promise<number | undefined> {
  const r = await world.net.status(from.ns, 'ping', ['-c', '40', '-i', '0.05', '-W', '2', addr], { timeoutMs: 30_000 })
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map(m => Number(m[1]))
  return stats(times)?.median
}

async function main (): Promise<Record<string, unknown>> {
  const runs = arg('runs', 3)
  const secs = arg('secs', 5)
  const offload = !process.argv.includes('--no-offload')
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    log('needs root (network namespaces, TUN devices)')
    return { error: 'needs root' }
  }
  const world = await createVpnWorld(undefined, ['a', 'b'], { extraArgs: offload ? [] : ['--no-offload'] })
  const onSignal = (): void => { void world.cleanup().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const [a, b] = world.nodes as [VpnNodeProc, VpnNodeProc]
    const st = await a.call<VpnStatus>('start', { peers: [specOf(b)] })
    const vpnB = st.peers.find(p => p.peerId === b.peerId)!.ipv4
    await b.call('waitLink', { peerId: a.peerId })
    await world.net.status(a.ns, 'ping', ['-c', '3', '-i', '0.2', vpnB])
    log(`two namespaces up; VPN ${st.ipv4} -> ${vpnB}, underlay ${a.underlayIp} -> ${b.underlayIp}, offload ${offload}`)

    const series: Record<string, number[]> = { vpn_tcp: [], veth_tcp: [], vpn_udp: [], veth_udp: [], stream: [], vpn_rtt: [], veth_rtt: [] }
    const push = (k: string, v: number | undefined): void => { if (v != null) series[k]!.push(v) }
    for (let i = 0; i < runs; i++) {
      push('veth_tcp', await iperf(world, a, b, b.underlayIp, secs, false))
      push('vpn_tcp', await iperf(world, a, b, vpnB, secs, false))
      push('veth_udp', await iperf(world, a, b, b.underlayIp, secs, true))
      push('vpn_udp', await iperf(world, a, b, vpnB, secs, true))
      try {
        push('stream', (await a.call<{ gbps: number }>('bulk', { peerId: b.peerId, bytes: 256 * 1024 * 1024 }, 120_000)).gbps)
      } catch (err) { log(`stream run failed: ${(err as Error).message}`) }
      push('veth_rtt', await rtt(world, a, b.underlayIp))
      push('vpn_rtt', await rtt(world, a, vpnB))
      log(`run ${i + 1}/${runs}: ${Object.entries(series).map(([k, v]) => `${k}=${round(v.at(-1))}`).join(' ')}`)
    }
    const s = await a.call<VpnStatus>('status')
    const peer = s.peers.find(p => p.peerId === b.peerId)
    const out: Record<string, unknown> = {
      vpn_tcp_gbps: round(stats(series.vpn_tcp!)?.median),
      vpn_udp_gbps: round(stats(series.vpn_udp!)?.median),
      veth_tcp_gbps: round(stats(series.veth_tcp!)?.median),
      veth_udp_gbps: round(stats(series.veth_udp!)?.median),
      stream_gbps: round(stats(series.stream!)?.median),
      vpn_rtt_ms: round(stats(series.vpn_rtt!)?.median),
      veth_rtt_ms: round(stats(series.veth_rtt!)?.median),
      vpn_tcp_vs_stream: round((stats(series.vpn_tcp!)?.median ?? NaN) / (stats(series.stream!)?.median ?? NaN), 2),
      offload,
      udp_offered: udpRate,
      runs,
      secs,
      drops: peer == null ? null : { queueFull: peer.dropQueueFull, spoofed: peer.dropSpoofed, noRoute: s.dropNoRoute }
    }
    for (const [k, v] of Object.entries(series)) {
      const st2 = stats(v)
      out[`${k}_range`] = st2 == null ? null : [round(st2.min), round(st2.max)]
    }
    return out
  } finally {
    await world.cleanup()
  }
}

main().then(
  (result) => { process.stdout.write(`${JSON.stringify({ bench: 'vpn', ...result })}\n`) },
  (err: Error) => {
    log(`failed: ${err.stack ?? err.message}`)
    process.stdout.write(`${JSON.stringify({ bench: 'vpn', error: err.message })}\n`)
  }
)

/**
 * Step 4: the VPN, with real devices, so only as root. Three `dmsnet up` daemons run in network
 * namespaces of their own (joined by a bridge on a private 10.77.0.0/24 underlay). Daemon a starts
 * a VPN with b and c (`vpn.up` over the control socket, as `dmsnet vpn up` does); b and c accept
 * its invitation because their DMSNET_VPN_ACCEPT_INVITES_FROM names a. Then every node pings
 * every other at its VPN address with the system's `ping`, and a asks the VPN's DNS for c's name.
 * Everything stays up until the demo stops; then the daemons, namespaces and data dirs go.
 * Without root (or TUN, or `ip`) the step says why and the demo goes on without it.
 */
import type { VpnStatus } from '../../vpn/types.js'
import type { Printer } from '../printer.js'
import { createVpnWorld, sweepLeftovers, UNDERLAY_PREFIX, vpnSkipReason, type VpnDaemon, type VpnWorld } from '../vpn-world.js'
import type { DemoContext, DemoStep } from './types.js'

const LABELS = ['a', 'b', 'c'] as const

export interface PingResult { sent: number, received: number, rtt?: { min: number, avg: number, max: number } }

/** Reads iputils `ping` output: counts, and the rtt summary when there were replies. */
export function parsePing (out: string): PingResult {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out)
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(out)
  return {
    sent: Number(counts?.[1] ?? 0),
    received: Number(counts?.[2] ?? 0),
    rtt: rtt == null ? undefined : { min: Number(rtt[1]), avg: Number(rtt[2]), max: Number(rtt[3]) }
  }
}

/** A DNS query to one server, run inside a namespace (the VPN's resolver is only reachable there). */
const RESOLVE = `
const { Resolver } = require('node:dns').promises
const [server, name] = process.argv.slice(1)
const r = new Resolver({ timeout: 2000, tries: 2 }); r.setServers([server])
r.resolve4(name).then(a => console.log(a.join(',')), e => { console.error(e.code || e.message); process.exit(3) })`

async function waitRunning (d: VpnDaemon, signal: AbortSignal): Promise<VpnStatus> {
  let st: VpnStatus | undefined
  for (let waited = 0; waited < 30_000; waited += 250) {
    st = await d.client.call('vpn.status', {}, { signal })
    if (st.state === 'running' && st.ipv4 != null) return st
    await new Promise(resolve => setTimeout(resolve, 250))
    signal.throwIfAborted()
  }
  throw new Error(`${d.label} did not join the VPN within 30 s (state ${st?.state ?? '?'})`)
}

function short (id: string): string {
  return `${id.slice(0, 12)}…${id.slice(-4)}`
}

async function runVpn (world: VpnWorld, { print, signal }: DemoContext): Promise<void> {
  const swept = await sweepLeftovers()
  if (swept.length > 0) print.line('vpn', `removed leftovers of an earlier demo that was killed: ${swept.join(', ')}`)
  const nss = LABELS.map(l => world.nsOf(l))
  print.line('vpn', `namespaces ${nss.join(', ')}, bridged in ${world.nsOf('hub')} on ${UNDERLAY_PREFIX}0/24 (no route out)`)
  await world.build([...LABELS], { signal })

  const a = await world.startDaemon('a', {}, { signal })
  print.name(a.peerId, 'a')
  print.line('a', `daemon up in ${a.ns}: ${short(a.peerId)} on ${a.underlayIp}`)
  // b and c take VPN invitations from a only (the default trusts nobody on the public network)
  const members = await Promise.all((['b', 'c'] as const).map(async l => await world.startDaemon(l, { DMSNET_VPN_ACCEPT_INVITES_FROM: a.peerId }, { signal })))
  for (const m of members) {
    print.name(m.peerId, m.label)
    print.line(m.label, `daemon up in ${m.ns}: ${short(m.peerId)} on ${m.underlayIp}, accepts VPN invitations from a`)
  }
  const [b, c] = members as [VpnDaemon, VpnDaemon]
  const all = [a, b, c]
  for (const [from, to] of [[a, b], [a, c], [b, c]] as const) {
    await from.client.call('node.connect', { target: `/ip4/${to.underlayIp}/tcp/4001/p2p/${to.peerId}` }, { signal })
    print.line(from.label, `connected    -> ${to.label} over the underlay`)
  }

  const up = await a.client.call('vpn.up', { peers: members.map(m => ({ peerId: m.peerId, name: m.label })) }, { signal })
  print.line('a', `started a VPN as its authority (range ${up.cidr ?? '?'}, domain ${up.domain ?? '?'}, ${up.peers.length} members); invited b, c`)
  const statuses = new Map<VpnDaemon, VpnStatus>([[a, up]])
  for (const m of members) {
    const t0 = performance.now()
    statuses.set(m, await waitRunning(m, signal))
    print.line(m.label, `accepted the invitation; device up after ${Math.round(performance.now() - t0)} ms`)
  }
  const self = (d: VpnDaemon): VpnStatus['peers'][number] | undefined => up.peers.find(p => p.peerId === d.peerId)
  const addr = (d: VpnDaemon): string => statuses.get(d)?.ipv4 ?? self(d)?.ipv4 ?? '?'
  for (const d of all) {
    const st = statuses.get(d)
    print.line(d.label, `VPN address ${addr(d)} ${st?.ipv6 ?? ''} on ${st?.interface ?? '?'}, DNS name ${self(d)?.name ?? '?'}.${up.domain ?? '?'}`)
  }

  let ok = 0
  let pairs = 0
  for (const from of all) {
    for (const to of all) {
      if (from === to) continue
      signal.throwIfAborted()
      pairs++
      ok += await pingPair(world, print, from, to, addr(to)) ? 1 : 0
    }
  }
  signal.throwIfAborted()

  const dnsName = `${self(c)?.name ?? 'c'}.${up.domain ?? 'dmsnet'}`
  const q = await world.exec('a', process.execPath, ['-e', RESOLVE, addr(b), dnsName], 15_000)
  const answer = q.stdout.trim()
  print.line('vpn', q.code === 0
    ? `a asked the VPN DNS on b (${addr(b)}) for ${dnsName}: ${answer} ${answer.split(',').includes(addr(c)) ? 'ok' : `(expected ${addr(c)})`}`
    : `a asked the VPN DNS on b (${addr(b)}) for ${dnsName}: failed (${q.stderr.trim().slice(0, 200)})`)

  print.line('vpn', ok === pairs
    ? `all ${pairs} pairs answered pings over the VPN`
    : `${ok}/${pairs} pairs answered pings over the VPN`)
  print.line('vpn', `try (as root, while the demo runs): ip netns exec ${a.ns} ping ${addr(b)}  |  npx dmsnet --data-dir ${a.dataDir} vpn status`)
}

/** `ping -c 3` from one namespace to another node's VPN address; prints one line; true on replies. */
async function pingPair (world: VpnWorld, print: Printer, from: VpnDaemon, to: VpnDaemon, ip: string): Promise<boolean> {
  let r = parsePing('')
  let out = ''
  // the first packets of a pair can race the peer link's first stream: one more try before failing
  for (let attempt = 1; attempt <= 2 && r.received === 0; attempt++) {
    const res = await world.exec(from.label, 'ping', ['-c', '3', '-W', '2', '-i', '0.2', ip], 15_000)
    out = res.stdout + res.stderr
    r = parsePing(res.stdout)
  }
  if (r.received > 0 && r.rtt != null) {
    print.line('vpn', `${from.label} -> ${to.label} ${ip} ok, ${r.received}/${r.sent} replies, rtt min/avg/max ${r.rtt.min}/${r.rtt.avg}/${r.rtt.max} ms`)
    return true
  }
  print.line('vpn', `${from.label} -> ${to.label} ${ip} FAILED, ${r.received}/${r.sent} replies: ${out.trim().split('\n').pop() ?? ''}`)
  return false
}

export const vpn: DemoStep = {
  title: 'VPN: three daemons in network namespaces of their own ping each other over the VPN (root only)',
  async run (ctx) {
    const { print, signal } = ctx
    const why = vpnSkipReason()
    if (why != null) {
      print.line('demo', `VPN step skipped: ${why}`)
      return
    }
    const world = createVpnWorld({
      onDaemonExit: (label, tail) => { if (!signal.aborted) print.line('vpn', `daemon ${label} exited while the demo runs${tail !== '' ? `: ${tail.slice(0, 400)}` : ''}`) }
    })
    let removed = false
    ctx.onStop(async () => {
      await world.cleanup()
      if (!removed) print.line('vpn', `stopped the VPN daemons; deleted namespaces ${world.nsOf('*')} and their data dirs`)
    })
    try {
      await runVpn(world, ctx)
    } catch (err) {
      if (signal.aborted) throw err
      print.line('vpn', `failed: ${(err as Error).name}: ${(err as Error).message}`)
      await world.cleanup()
      removed = true
      print.line('vpn', 'removed the VPN daemons and namespaces; the rest of the demo goes on')
    }
  }
}

/**
 * The scale bench's private parts, driven through the control sockets: a private swarm (one
 * creator, its members join through the key service, then one key rotation while acknowledged
 * messages flow between members: time until every member is on the new epoch, and acknowledged
 * messages that never arrived), and a VPN whose members ping every other member over `dmsnet0`.
 * What explains a VPN that does not come up is kept (`vpn-members.json` in the run's out dir: when
 * each member first ran; for members that never did, their `vpn.status`, their connections to the
 * authority, whether they saved a membership, and their daemon's last log lines).
 */
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { round } from './stats.js'
import { drain, pollUntil, pool, tail, type Tail } from './scale-util.js'
import type { ScaleNode } from './scale-world.js'

type Log = (msg: string) => void

export interface SwarmResult {
  members: number
  joinAllMs: number
  rotateCallMs: number
  /** from the rotate call until every member (and the creator) reported the new epoch; null if not all did */
  rotateAllMs: number | null
  onNewEpoch: number
  sent: number
  acked: number
  lost: number
  sendErrors: number
  /** members whose key push failed inside rotate(), and ms until each was on the new epoch (null: not within the window) */
  pushFailed: Array<{ node: number, ms: number | null }>
  /** joins that failed and were tried again (node, try, error) */
  joinErrors: string[]
}

/** Errors of a send during a key switch: the message was not acknowledged, the sender retries (docs/swarm.md). */
const RETRYABLE = new Set(['StreamClosedError', 'DialError', 'TimeoutError', 'PeerNotFoundError', 'NoValidAddressesError', 'AbortError', 'StreamResetError', 'ConnectionClosedError', 'NotStartedError', 'UnsupportedProtocolError', 'MuxerClosedError', 'EncryptionFailedError'])

export async function swarmRotation (members: ScaleNode[], senderPairs: number, log: Log): Promise<SwarmResult> {
  const [creator, ...rest] = members
  const name = 'scale'
  await creator!.client.call('swarm.create', { name, authorised: rest.map(m => m.peerId) })
  const st = await creator!.client.call('swarm.status')
  const ks = st.keyService.find(a => a.includes(`/ip4/${creator!.ip}/`)) ?? st.keyService[0]
  if (ks == null) throw new Error('the swarm creator reports no key-service address')
  const j0 = Date.now()
  // joins run 4 at a time and each is a key exchange plus a host switch over the emulated links
  // (about 10 s apiece at load 30 on 2 cores): the bound grows with the member count
  const joinBoundMs = 120_000 + 3_000 * rest.length
  // a join that fails (the key service unreachable for 3 rounds of the request timeout under
  // load) is tried again, as an operator would, at most 3 times; each failure is named
  const joinErrors: string[] = []
  await pool(rest, 4, async m => {
    for (let attempt = 1; ; attempt++) {
      try {
        await m.client.call('swarm.join', { target: ks, name })
        return
      } catch (err) {
        const why = `node ${m.index} (${m.ip}) join try ${attempt}: ${(err as Error).name}: ${(err as Error).message}`
        joinErrors.push(why)
        log(`swarm: ${why}`)
        if (attempt >= 3) throw new Error(why)
      }
    }
  })
  let lagging: string[] = []
  const inSwarm = await pollUntil(async () => {
    const s = await pool(rest, 16, async m => await m.client.call('swarm.status'))
    lagging = s.flatMap((x, i) => x.joined && x.connected.includes(creator!.peerId) ? [] : [`${rest[i]!.index}:${x.joined ? 'joined, not connected to the creator' : 'not joined'}`])
    return lagging.length === 0
  }, joinBoundMs, 1000)
  const joinAllMs = Date.now() - j0
  if (!inSwarm) throw new Error(`not every one of ${rest.length} members joined swarm ${name} and reached its creator within ${joinBoundMs / 1000} s: ${lagging.length} did not (${lagging.slice(0, 10).join('; ')})`)
  log(`swarm: ${members.length} members in after ${joinAllMs} ms`)

  // acknowledged messages between members in different sites, through the rotation
  const pairs: Array<[ScaleNode, ScaleNode]> = []
  for (let i = 0; i < senderPairs && 2 * i + 2 < members.length; i++) pairs.push([rest[2 * i]!, rest[2 * i + 1]!])
  const ac = new AbortController()
  const received = new Set<string>()
  const inboxes = pairs.map(([, r]) => drain(r.client.stream('messaging.inbox', { type: 'scale.seq' }, { signal: ac.signal }), ac.signal,
    m => { received.add(m.payload) }, e => { log(`inbox on ${r.index}: ${e.name} ${e.message}`) }))
  const acked = new Set<string>()
  let sent = 0
  let sendErrors = 0
  let stop = false
  let senders: Array<Promise<void>> = []
  const startSenders = (): Array<Promise<void>> => pairs.map(async ([s, r], p) => {
    for (let seq = 0; !stop && seq < 10_000; seq++) {
      const payload = `${p}:${seq}`
      sent++
      const deadline = Date.now() + 60_000
      for (;;) {
        try {
          await s.client.call('messaging.send', { peer: r.peerId, type: 'scale.seq', payload, timeoutMs: 5000 })
          acked.add(payload)
          break
        } catch (err) {
          if (!RETRYABLE.has((err as Error).name) || Date.now() > deadline) { sendErrors++; log(`send ${payload}: ${(err as Error).name} ${(err as Error).message}`); break }
          await new Promise(resolve => setTimeout(resolve, 250))
        }
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  })
  try {
    // the inbox handlers must be registered before the first message is sent (the control call
    // registers it on arrival, and its stream says nothing until a message comes)
    await new Promise(resolve => setTimeout(resolve, 1000))
    senders = startSenders()
    await new Promise(resolve => setTimeout(resolve, 2000))
    const r0 = Date.now()
    const rot = await creator!.client.call('swarm.rotate')
    const rotateCallMs = Date.now() - r0
    let onNew = 0
    // when each member was first seen on the new epoch (ms after the rotate call began)
    const arrivedMs = new Array<number | undefined>(members.length)
    const all = await pollUntil(async () => {
      const s = await pool(members, 16, async m => await m.client.call('swarm.status').catch(() => undefined))
      s.forEach((x, i) => { if (x?.joined === true && x.epoch === rot.epoch) arrivedMs[i] ??= Date.now() - r0 })
      onNew = s.filter(x => x?.joined === true && x.epoch === rot.epoch).length
      return onNew === members.length
    }, 120_000, 250)
    const rotateAllMs = all ? Date.now() - r0 : null
    log(`swarm: rotate() took ${rotateCallMs} ms (${rot.delivered.length} delivered, ${rot.failed.length} failed); ${onNew}/${members.length} on epoch ${rot.epoch} after ${Date.now() - r0} ms`)
    // the members whose push failed recover by themselves (docs/swarm.md): name them and when they got there
    const failedMs = rot.failed.map(p => { const i = members.findIndex(m => m.peerId === p); return `${members[i]?.index ?? p}: ${arrivedMs[i] != null ? `${arrivedMs[i]} ms` : 'not on the new epoch'}` })
    if (failedMs.length > 0) log(`swarm: members whose key push failed, on the new epoch after: ${failedMs.join('; ')}`)
    const lagging = members.flatMap((m, i) => arrivedMs[i] == null ? [m.index] : [])
    if (lagging.length > 0) log(`swarm: not on the new epoch when the window closed: ${lagging.join(', ')}`)
    await new Promise(resolve => setTimeout(resolve, 3000))
    stop = true
    await Promise.all(senders)
    await pollUntil(async () => [...acked].every(a => received.has(a)), 15_000, 250)
    const lost = [...acked].filter(a => !received.has(a)).length
    const pushFailed = rot.failed.map(p => { const i = members.findIndex(m => m.peerId === p); return { node: members[i]?.index ?? -1, ms: arrivedMs[i] ?? null } })
    return { members: members.length, joinAllMs, rotateCallMs, rotateAllMs, onNewEpoch: onNew, sent, acked: acked.size, lost, sendErrors, pushFailed, joinErrors }
  } finally {
    stop = true
    await Promise.all(senders)
    ac.abort()
    await Promise.all(inboxes)
  }
}

interface VpnStatus { state: string, version?: number, networkId?: string, ipv4?: string, peers: Array<{ peerId: string, path: string }> }

export interface VpnResult {
  members: number
  upAllMs: number
  pairs: number
  /** pairs answered with retries (at most PING_TRIES pings of 3 echo requests each) */
  pairsOk: number
  /** pairs whose first `vpn.ping` (3 echo requests) got a reply */
  pairsOkFirst: number
  /** echo requests sent and answered over all tries (the link's loss shows here) */
  echoSent: number
  echoAnswered: number
  /** member pairs (each direction) without a tunnel stream when the pings started */
  linksDownAtStart: number
  /** each pair that missed its first try: who, why (error, link path at both ends), and whether a retry answered */
  misses: string[]
  rtt: Tail
}

/**
 * A pair is pinged again (after a pause) when its first 3 echo requests all went unanswered: over
 * a link with 0.5% loss per direction a single loss is expected now and then, and a pair whose
 * tunnel is still being dialled answers a moment later. First-try and with-retry success are
 * reported apart, so a retry never hides a product fault: each miss is named with its cause.
 */
const PING_TRIES = 4
const PING_RETRY_PAUSE_MS = 1000

const pathAt = (s: VpnStatus | undefined, peer: string): string => s?.peers.find(p => p.peerId === peer)?.path ?? 'absent'

/** A member is up once it runs with an address and knows every member. */
const memberUp = (s: VpnStatus | undefined, n: number): boolean => s?.state === 'running' && s.ipv4 != null && s.peers.length === n

/** What a member that did not come up looked like when the wait ended. */
interface MemberDiagnosis {
  node: number
  state: string
  version: number | null
  peersKnown: number
  /** its connections to the authority (direction and age), none: not connected */
  toAuthority: string
  /** whether it had saved a membership (`<dataDir>/vpn/state.json`): the push arrived and was accepted */
  savedMembership: boolean
  /** its daemon's last stderr lines (logs at warn) */
  lastLog: string
}

async function diagnose (m: ScaleNode, s: VpnStatus | undefined, auth: ScaleNode): Promise<MemberDiagnosis> {
  const conns = await m.client.call('node.peers').catch(() => undefined)
  const toAuth = conns?.filter(c => c.peerId === auth.peerId).map(c => `${c.direction} ${Math.round((Date.now() - c.openedAt) / 1000)} s`)
  return {
    node: m.index,
    state: s?.state ?? 'no answer',
    version: s?.version ?? null,
    peersKnown: s?.peers.length ?? 0,
    toAuthority: conns == null ? 'unknown' : toAuth!.length > 0 ? toAuth!.join(', ') : 'none',
    savedMembership: existsSync(join(m.dataDir, 'vpn', 'state.json')),
    lastLog: m.stderrTail()
  }
}

export async function vpnAllPairs (members: ScaleNode[], log: Log, opts: { outDir?: string } = {}): Promise<VpnResult> {
  const [auth, ...rest] = members
  await pool(rest, 4, async m => { await auth!.client.call('node.connect', { target: m.addr }) })
  const u0 = Date.now()
  await auth!.client.call('vpn.up', { peers: rest.map(m => ({ peerId: m.peerId, name: `n${m.index}`, addrs: [m.addr] })) })
  const vpnUpCallMs = Date.now() - u0
  let st: Array<VpnStatus | undefined> = []
  // when each member was first seen up (ms after the vpn.up call began)
  const upMs = new Array<number | undefined>(members.length)
  const up = await pollUntil(async () => {
    // stamped as each answer arrives: under load one round of 20 calls takes seconds
    st = await pool(members, 16, async (m, i) => {
      const s = await m.client.call('vpn.status').catch(() => undefined)
      if (memberUp(s, members.length)) upMs[i] ??= Date.now() - u0
      return s
    })
    return st.every(s => memberUp(s, members.length))
  }, 120_000, 1000)
  const upAllMs = Date.now() - u0
  const missing = up ? [] : await Promise.all(members.flatMap((m, i) => memberUp(st[i], members.length) ? [] : [diagnose(m, st[i], auth!)]))
  if (opts.outDir != null) {
    const report = {
      members: members.map((m, i) => ({ node: m.index, upMs: upMs[i] ?? null })),
      vpnUpCallMs,
      notUp: missing,
      // the authority's last log lines say which pushes failed and were made again
      authorityLog: auth!.stderrTail()
    }
    await mkdir(opts.outDir, { recursive: true })
    await writeFile(join(opts.outDir, 'vpn-members.json'), JSON.stringify(report, null, 1) + '\n').catch((err: Error) => { log(`vpn: could not write vpn-members.json: ${err.message}`) })
  }
  const upSorted = upMs.filter((x): x is number => x != null).sort((a, b) => a - b)
  log(`vpn: vpn.up call ${vpnUpCallMs} ms; members up after (ms) min ${upSorted[0] ?? '-'} median ${upSorted[Math.floor(upSorted.length / 2)] ?? '-'} max ${upSorted[upSorted.length - 1] ?? '-'}`)
  if (!up) {
    for (const d of missing) log(`vpn: n${d.node} not up: ${JSON.stringify(d)}`)
    const named = missing.map(d => `n${d.node} (${d.state}, version ${d.version ?? '?'}, ${d.savedMembership ? 'membership saved' : 'no membership saved'}, to the authority: ${d.toAuthority}; last log: ${d.lastLog.slice(-300) || '-'})`)
    throw new Error(`VPN: only ${members.length - missing.length}/${members.length} members up after 120 s; not up: ${named.join('; ')}`)
  }
  log(`vpn: ${members.length} members up after ${upAllMs} ms`)
  const down = members.flatMap((a, i) => members.filter(b => b !== a && pathAt(st[i], b.peerId) === 'none').map(b => `n${a.index}->n${b.index}`))
  const linksDownAtStart = down.length
  log(`vpn: ${linksDownAtStart} of ${members.length * (members.length - 1)} member links without a tunnel stream when the pings start${down.length > 0 ? `: ${down.slice(0, 60).join(' ')}` : ''}`)
  const pairs: Array<{ a: ScaleNode, ai: number, b: ScaleNode, addr: string }> = []
  for (const [ai, a] of members.entries()) for (const [bi, b] of members.entries()) if (a !== b) pairs.push({ a, ai, b, addr: st[bi]!.ipv4! })
  const rtts: number[] = []
  const misses: string[] = []
  let echoSent = 0
  let echoAnswered = 0
  const status = async (n: ScaleNode): Promise<VpnStatus | undefined> => await n.client.call('vpn.status').catch(() => undefined)
  const res = await pool(pairs, 6, async ({ a, b, addr }) => {
    let why = ''
    for (let tries = 1; tries <= PING_TRIES; tries++) {
      echoSent += 3
      try {
        const r = await a.client.call('vpn.ping', { target: addr, count: 3 })
        echoAnswered += r.rtts.length
        if (r.rtts.length > 0) {
          rtts.push(...r.rtts)
          if (tries > 1) misses.push(`n${a.index} -> n${b.index}: ${why}; answered on try ${tries}`)
          return tries
        }
        why = 'no reply'
      } catch (err) {
        why = `${(err as Error).name}: ${(err as Error).message}`
      }
      if (tries === 1) {
        const [sa, sb] = await Promise.all([status(a), status(b)])
        why += ` (link path at n${a.index}: ${pathAt(sa, b.peerId)}, at n${b.index}: ${pathAt(sb, a.peerId)})`
      }
      await new Promise(resolve => setTimeout(resolve, PING_RETRY_PAUSE_MS))
    }
    misses.push(`n${a.index} -> n${b.index}: ${why}; no answer in ${PING_TRIES} tries`)
    return 0
  })
  const ok = res.filter(t => t > 0).length
  const okFirst = res.filter(t => t === 1).length
  log(`vpn: ${okFirst}/${pairs.length} pairs answered the first ping, ${ok}/${pairs.length} with up to ${PING_TRIES} tries; ${echoAnswered}/${echoSent} echo requests answered`)
  for (const m of misses) log(`vpn: missed first try: ${m}`)
  return { members: members.length, upAllMs, pairs: pairs.length, pairsOk: ok, pairsOkFirst: okFirst, echoSent, echoAnswered, linksDownAtStart, misses, rtt: tail(rtts.map(r => round(r, 2))) }
}

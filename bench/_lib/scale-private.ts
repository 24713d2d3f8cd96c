/**
 * The scale bench's private parts, driven through the control sockets: a private swarm (one
 * creator, its members join through the key service, then one key rotation while acknowledged
 * messages flow between members: time until every member is on the new epoch, and acknowledged
 * messages that never arrived), and a VPN whose members ping every other member over `dmsnet0`.
 */
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
  await pool(rest, 4, async m => { await m.client.call('swarm.join', { target: ks, name }) })
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
    const all = await pollUntil(async () => {
      const s = await pool(members, 16, async m => await m.client.call('swarm.status').catch(() => undefined))
      onNew = s.filter(x => x?.joined === true && x.epoch === rot.epoch).length
      return onNew === members.length
    }, 120_000, 250)
    const rotateAllMs = all ? Date.now() - r0 : null
    log(`swarm: rotate() took ${rotateCallMs} ms (${rot.delivered.length} delivered, ${rot.failed.length} failed); ${onNew}/${members.length} on epoch ${rot.epoch} after ${Date.now() - r0} ms`)
    await new Promise(resolve => setTimeout(resolve, 3000))
    stop = true
    await Promise.all(senders)
    await pollUntil(async () => [...acked].every(a => received.has(a)), 15_000, 250)
    const lost = [...acked].filter(a => !received.has(a)).length
    return { members: members.length, joinAllMs, rotateCallMs, rotateAllMs, onNewEpoch: onNew, sent, acked: acked.size, lost, sendErrors }
  } finally {
    stop = true
    await Promise.all(senders)
    ac.abort()
    await Promise.all(inboxes)
  }
}

interface VpnStatus { state: string, ipv4?: string, peers: Array<{ peerId: string }> }

export interface VpnResult { members: number, upAllMs: number, pairs: number, pairsOk: number, rtt: Tail }

export async function vpnAllPairs (members: ScaleNode[], log: Log): Promise<VpnResult> {
  const [auth, ...rest] = members
  await pool(rest, 4, async m => { await auth!.client.call('node.connect', { target: m.addr }) })
  const u0 = Date.now()
  await auth!.client.call('vpn.up', { peers: rest.map(m => ({ peerId: m.peerId, name: `n${m.index}`, addrs: [m.addr] })) })
  let st: VpnStatus[] = []
  const up = await pollUntil(async () => {
    st = await pool(members, 16, async m => await m.client.call('vpn.status'))
    return st.every(s => s.state === 'running' && s.ipv4 != null && s.peers.length === members.length)
  }, 120_000, 1000)
  const upAllMs = Date.now() - u0
  if (!up) throw new Error(`VPN: only ${st.filter(s => s.state === 'running').length}/${members.length} members running after 120 s`)
  log(`vpn: ${members.length} members up after ${upAllMs} ms`)
  const pairs: Array<[ScaleNode, string]> = []
  for (const a of members) for (const [j, b] of members.entries()) if (a !== b) pairs.push([a, st[j]!.ipv4!])
  const rtts: number[] = []
  const res = await pool(pairs, 6, async ([a, addr]) => {
    try {
      const r = await a.client.call('vpn.ping', { target: addr, count: 3 })
      rtts.push(...r.rtts)
      return r.rtts.length > 0
    } catch {
      return false
    }
  })
  const ok = res.filter(Boolean).length
  log(`vpn: ${ok}/${pairs.length} pairs answered`)
  return { members: members.length, upAllMs, pairs: pairs.length, pairsOk: ok, rtt: tail(rtts.map(r => round(r, 2))) }
}

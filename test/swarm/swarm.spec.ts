/**
 * Private swarms on real libp2p nodes over loopback TCP (createNetwork + createSwarmManager):
 * members talk; outsiders without the key cannot connect; unauthorised key requests are refused
 * with a typed error; invites are single-use; rotation with a revoked peer; an offline member
 * comes back by itself; restarts keep membership; 256 MiB cross the PSK protector intact.
 *
 * Each group forms a swarm of its own (formSwarm), so one failure names one cause. Within a group,
 * cases run in order only where the story is one (join, then talk).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { UnauthorizedError } from '../../src/errors.js'
import { pskProtector, type PskProtectorFactory } from '../../src/swarm/protector.js'
import { SWARM_KEY_PROTOCOL } from '../../src/swarm/wire.js'
import { bound, pause } from '../helpers/wait.js'
import { bytesUntilEnd, formSwarm, removeDir, startSwarmNode, waitFor, type FormedSwarm, type SwarmNode } from './helpers.js'
import type { Stream } from '@libp2p/interface'
import { drained } from '../../src/network/stream-drain.js'

const ECHO = '/dmsnet-test/echo/1.0.0'
const SINK = '/dmsnet-test/sink/1.0.0'

async function echoHandler (stream: Stream): Promise<void> {
  for await (const chunk of stream) stream.send(chunk)
  await stream.close()
}

/** Hashes everything received, then answers with the hex digest and the byte count. */
async function sinkHandler (stream: Stream): Promise<void> {
  const h = createHash('sha256')
  let n = 0
  for await (const chunk of stream) {
    const buf = chunk.subarray()
    h.update(buf)
    n += buf.byteLength
  }
  stream.send(new TextEncoder().encode(`${h.digest('hex')} ${n}`))
  await stream.close()
}

const addrOf = (n: SwarmNode): string => `/ip4/127.0.0.1/tcp/${n.port}/p2p/${n.id}`

async function echo (from: SwarmNode, to: SwarmNode, text: string): Promise<string> {
  const stream = await from.net.dialProtocol(addrOf(to), ECHO, { signal: AbortSignal.timeout(bound(8000)) })
  stream.send(new TextEncoder().encode(text))
  await stream.close()
  let out = ''
  for await (const chunk of stream) out += new TextDecoder().decode(chunk.subarray())
  return out
}

/**
 * `echo` right after a key rotation. A member records the new epoch once its own host switch is
 * done, but the peer it dials may be finishing its switch on the same pinned port, and a connect
 * then fails with ECONNRESET (seen in CI, about once in ten runs). docs/swarm.md: a send during a
 * key switch can fail and the sender retries; so does this, on DialError only, at most 3 times.
 */
async function echoAfterRotation (from: SwarmNode, to: SwarmNode, text: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await echo(from, to, text)
    } catch (err) {
      if ((err as Error).name !== 'DialError' || attempt >= 3) throw err
      await pause(250) // the peer's listener is being replaced: give it a moment, as a sender would
    }
  }
}


async function addHandlers (n: SwarmNode): Promise<void> {
  await n.net.handle(ECHO, (s) => { void echoHandler(s) })
  await n.net.handle(SINK, (s) => { void sinkHandler(s) })
}

const protectorOf = (n: SwarmNode): PskProtectorFactory => n.net.profile.connectionProtector as PskProtectorFactory

/**
 * How a dial under the wrong key (or none) ends: at our deadline, with the handshake stalled on
 * garbage, or earlier when the target gives up the inbound handshake and resets the connection.
 */
function handshakeFailed (e: Error & { cause?: { name?: string } }): boolean {
  return e.name === 'TimeoutError' || (e.name === 'DialError' && e.cause?.name === 'EncryptionFailedError')
}

/**
 * `from` dials `target` and must not get a connection because it lacks the target's key. pnet has
 * no MAC, so a wrong key never produces an error message of its own: the handshake reads garbage
 * and stalls (handshakeFailed). What shows that the key, not the address, stopped it: the target's
 * protector wrapped the incoming TCP connection (so TCP got through), no connection came of it,
 * and (checked by the callers) a node with the right key reaches the same address.
 */
async function assertKeyStopsDial (from: SwarmNode, target: SwarmNode): Promise<void> {
  const wrapped = protectorOf(target).stats.protected
  await assert.rejects(from.net.dial(addrOf(target), { signal: AbortSignal.timeout(bound(4000)) }), handshakeFailed)
  await waitFor(() => protectorOf(target).stats.protected > wrapped, 10_000, `${target.id} to see the TCP connection in its protector`)
  assert.equal(target.net.isConnected(from.id), false, 'no connection came of it')
}

describe('swarm: create, join by address, by name and by invite', { timeout: 120_000 }, () => {
  const nodes: SwarmNode[] = []
  before(async () => {
    nodes.push(...await Promise.all([0, 1, 2, 3].map(async () => await startSwarmNode())))
    for (const n of nodes) await addHandlers(n)
  })
  after(async () => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    for (const n of nodes) removeDir(n.dir)
  })

  it('authorised members join by address and by name, an invitee by token; they exchange data', async () => {
    const [A, B, C, D] = nodes as [SwarmNode, SwarmNode, SwarmNode, SwarmNode]
    const st = await A.swarm.create('lab', [B.id, C.id])
    assert.equal(st.role, 'creator')
    assert.equal(st.epoch, 1)
    assert.equal(A.net.profile.name, 'swarm:lab')
    assert.ok(st.keyService.length > 0)

    const b = await B.swarm.join(st.keyService[0]!)
    assert.equal(b.joined, true)
    assert.equal(b.epoch, 1)
    assert.equal(B.net.profile.name, 'swarm:lab')
    await C.swarm.join({ creator: st.keyService[0]!, name: 'lab' })
    assert.equal(C.swarm.status().joined, true)

    const token = await A.swarm.invite({ ttlMs: 60_000 })
    const d = await D.swarm.join(token)
    assert.equal(d.role, 'member')
    assert.ok(A.swarm.status().authorised.includes(D.id), 'invite authorised D')

    assert.equal(await echo(B, C, 'b->c'), 'b->c')
    assert.equal(await echo(D, B, 'd->b'), 'd->b')
    assert.equal(await echo(C, A, 'c->a'), 'c->a')
  })
})

describe('swarm: the key service refuses the unauthorised; invites are single-use', { timeout: 120_000 }, () => {
  let s: FormedSwarm
  before(async () => { s = await formSwarm('keys', 1, 2) })
  after(async () => { await s.stop() })

  it('an unauthorised key request is refused with a typed error and counted; an invite works once', async () => {
    const A = s.creator
    const [E, F] = s.outsiders as [SwarmNode, SwarmNode]
    const refusedBefore = A.swarm.status().refused
    const refusedEvt = new Promise<{ peerId: string }>(resolve => {
      A.swarm.addEventListener('swarm:refused', (evt) => { resolve(evt.detail) }, { once: true })
    })
    await assert.rejects(E.swarm.join(A.swarm.status().keyService[0]!), (err: Error) => {
      assert.equal(err.name, 'SwarmUnauthorizedError')
      assert.ok(err instanceof UnauthorizedError)
      return true
    })
    assert.equal((await refusedEvt).peerId, E.id)
    assert.equal(A.swarm.status().refused, refusedBefore + 1)
    assert.equal(E.net.profile.name, 'public')

    // an invite admits F once; the same token is refused for E afterwards; so is a made-up one
    const token = await A.swarm.invite()
    await F.swarm.join(token)
    assert.equal(F.swarm.status().joined, true)
    await assert.rejects(E.swarm.join(token), { name: 'InvalidInviteError' })
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    await assert.rejects(E.swarm.join(forged), { name: 'InvalidInviteError' })
    assert.equal(E.swarm.status().joined, false)
  })
})

describe('swarm: outsiders cannot connect to any member', { timeout: 180_000 }, () => {
  let s: FormedSwarm
  before(async () => {
    s = await formSwarm('walls', 3, 1)
    for (const n of s.all()) await addHandlers(n)
  })
  after(async () => { await s.stop() })

  it('without the key, or with a wrong key, an outsider gets no connection to any of the four; members reach each one', async () => {
    const targets = [s.creator, ...s.members]
    const [E] = s.outsiders as [SwarmNode]
    // positive control: each target is reachable, in time, by a node that has the key
    for (const m of targets) {
      const other = targets.find(x => x !== m)!
      assert.equal(await echo(other, m, `to ${m.id}`), `to ${m.id}`)
    }
    // E on the public network (no PSK), then with a PSK of its own (wrong key)
    for (const m of targets) await assertKeyStopsDial(E, m)
    await E.net.switchProfile({ name: 'swarm:walls', connectionProtector: pskProtector({ psk: randomBytes(32) }), dhtProtocolPrefix: '/dmsnet/swarm/walls', bootstrap: [] })
    for (const m of targets) await assertKeyStopsDial(E, m)
    for (const m of targets) assert.ok(!m.net.peers().includes(E.id), 'no member has a connection from E')
    // members are still fine
    assert.equal(await echo(s.members[0]!, s.members[2]!, 'still here'), 'still here')
  })
})

describe('swarm: bulk data through the PSK protector', { timeout: 600_000 }, () => {
  let s: FormedSwarm
  before(async () => {
    s = await formSwarm('bulk', 2)
    for (const n of s.all()) await addHandlers(n)
  })
  after(async () => { await s.stop() })

  it('256 MiB between two members inside the swarm arrive intact (sha256)', async () => {
    const [B, D] = s.members as [SwarmNode, SwarmNode]
    const total = 256 * 1024 * 1024
    const chunk = 256 * 1024
    const stream = await B.net.dialProtocol(addrOf(D), SINK, { signal: AbortSignal.timeout(bound(10_000)) })
    const h = createHash('sha256')
    const block = randomBytes(chunk)
    const t0 = Date.now()
    for (let sent = 0; sent < total; sent += chunk) {
      // vary the bytes (and make chunk ends odd for the keystream) without a fresh random buffer each time
      block.writeUInt32LE(sent, (sent / chunk) % (chunk - 4))
      const part = sent + chunk > total ? block.subarray(0, total - sent) : block
      h.update(part)
      if (!stream.send(new Uint8Array(part))) await drained(stream, { signal: AbortSignal.timeout(bound(30_000)) })
    }
    await stream.close()
    let reply = ''
    for await (const c of stream) reply += new TextDecoder().decode(c.subarray())
    const secs = (Date.now() - t0) / 1000
    const [digest, n] = reply.split(' ')
    assert.equal(Number(n), total)
    assert.equal(digest, h.digest('hex'))
    // the connection really went through the PSK protector
    assert.equal(B.net.profile.name, 'swarm:bulk')
    assert.ok(protectorOf(B).stats.protected > 0)
    console.error(`# 256 MiB over the PSK swarm in ${secs.toFixed(1)} s (${(total / 1e6 / secs).toFixed(0)} MB/s)`)
  })
})

describe('swarm: rotation with a revoked member', { timeout: 180_000 }, () => {
  let s: FormedSwarm
  before(async () => {
    s = await formSwarm('revoke', 3)
    for (const n of s.all()) await addHandlers(n)
  })
  after(async () => { await s.stop() })

  it('rotation with C revoked: the others talk on the new key, C is out and its dials fail', async () => {
    const A = s.creator
    const [B, C, D] = s.members as [SwarmNode, SwarmNode, SwarmNode]
    const revokedEvt = new Promise<void>(resolve => { C.swarm.addEventListener('swarm:revoked', () => { resolve() }, { once: true }) })
    const oldKeyC = C.net.profile.connectionProtector
    await A.swarm.revoke(C.id) // rotates by default
    assert.equal(A.swarm.status().epoch, 2)
    await waitFor(() => B.swarm.status().epoch === 2 && D.swarm.status().epoch === 2, 20_000, 'members on epoch 2')
    assert.equal(await echoAfterRotation(B, D, 'epoch 2'), 'epoch 2')
    assert.equal(await echoAfterRotation(D, A, 'epoch 2 to creator'), 'epoch 2 to creator')
    await revokedEvt
    assert.equal(C.swarm.status().joined, false)
    assert.equal(C.net.profile.name, 'public')
    // C's dials fail, from the public network and with its old swarm key
    await assertKeyStopsDial(C, B)
    await C.net.switchProfile({ name: 'swarm:revoke', connectionProtector: oldKeyC, dhtProtocolPrefix: '/dmsnet/swarm/revoke', bootstrap: [] })
    try {
      await assertKeyStopsDial(C, D)
    } finally {
      await C.net.switchProfile({ name: 'public', dhtProtocolPrefix: '/dmsnet', bootstrap: [] })
    }
    // and asking for the key again is refused
    await assert.rejects(C.swarm.join(A.swarm.status().keyService[0]!), { name: 'SwarmUnauthorizedError' })
  })
})

describe('swarm: members that go away come back', { timeout: 240_000 }, () => {
  let s: FormedSwarm
  before(async () => {
    s = await formSwarm('return', 2)
    for (const n of s.all()) await addHandlers(n)
  })
  after(async () => { await s.stop() })

  it('a member offline during a rotation comes back by itself on restart (state kept)', async () => {
    const A = s.creator
    const [B, D] = s.members as [SwarmNode, SwarmNode]
    const { dir, port, id } = D
    await D.stop()
    const r = await A.swarm.rotate()
    assert.equal(r.epoch, 2)
    assert.ok(!r.delivered.includes(id))
    await waitFor(() => B.swarm.status().epoch === 2, 20_000, 'B on epoch 2')

    const D2 = await startSwarmNode({ dir, port })
    s.members[1] = D2
    await addHandlers(D2)
    assert.equal(D2.id, id)
    // resumed from the state file: joined, same swarm; the old key fails, it recovers via the key service
    await waitFor(() => D2.swarm.status().epoch === 2 && D2.net.isConnected(A.id), 30_000, 'D back on epoch 2')
    assert.equal(D2.swarm.status().name, 'return')
    assert.equal(await echo(D2, B, 'back'), 'back')
  })

  it('restarting a member and the creator keeps membership', async () => {
    const A = s.creator
    const [B, D] = s.members as [SwarmNode, SwarmNode]
    const epoch = A.swarm.status().epoch
    const b = { dir: B.dir, port: B.port }
    await B.stop()
    const B2 = await startSwarmNode(b)
    s.members[0] = B2
    await addHandlers(B2)
    await waitFor(() => B2.net.isConnected(A.id), 20_000, 'B reconnected')
    assert.equal(B2.swarm.status().epoch, epoch)
    assert.equal(B2.net.profile.name, 'swarm:return')

    const a = { dir: A.dir, port: A.port, ks: A.swarm.status().keyService }
    await A.stop()
    const A2 = await startSwarmNode({ dir: a.dir, port: a.port })
    s.creator = A2
    await addHandlers(A2)
    const st = A2.swarm.status()
    assert.equal(st.role, 'creator')
    assert.equal(st.epoch, epoch)
    assert.deepEqual(st.keyService, a.ks, 'key service back on the same address')
    assert.equal(A2.net.profile.name, 'swarm:return')
    await waitFor(() => A2.net.isConnected(B2.id) && A2.net.isConnected(D.id), 30_000, 'members reconnected to the restarted creator')
    assert.equal(await echo(A2, B2, 'after restart'), 'after restart')
  })
})

describe('swarm: leave and rejoin', { timeout: 120_000 }, () => {
  let s: FormedSwarm
  before(async () => {
    s = await formSwarm('door', 1)
    for (const n of s.all()) await addHandlers(n)
  })
  after(async () => { await s.stop() })

  it('leave returns to the public network; join by name re-enters', async () => {
    const A = s.creator
    const [D] = s.members as [SwarmNode]
    await D.swarm.leave()
    assert.equal(D.net.profile.name, 'public')
    assert.equal(D.swarm.status().joined, false)
    await D.swarm.join('door')
    assert.equal(D.net.profile.name, 'swarm:door')
    await waitFor(() => D.net.isConnected(A.id), 20_000, 'D rejoined')
    assert.equal(await echo(D, A, 'rejoined'), 'rejoined')
  })
})

describe('swarm: garbage on the key protocol', { timeout: 120_000 }, () => {
  let s: FormedSwarm
  before(async () => {
    s = await formSwarm('junk', 1, 1)
    for (const n of s.all()) await addHandlers(n)
  })
  after(async () => { await s.stop() })

  it('garbage on the key protocol is dropped without a reply or a crash; protector keeps no dead connections', async () => {
    const A = s.creator
    const [B] = s.members as [SwarmNode]
    const [E] = s.outsiders as [SwarmNode]
    const ks = A.swarm.status().keyService[0]!
    // not JSON
    let stream = await E.net.dialProtocol(ks, SWARM_KEY_PROTOCOL, { signal: AbortSignal.timeout(bound(5000)) })
    stream.send(Uint8Array.from([8, ...new TextEncoder().encode('not json')]))
    assert.equal(await bytesUntilEnd(stream), 0, 'no reply to garbage')
    // a length prefix of 10 MB (limit 64 KiB)
    stream = await E.net.dialProtocol(ks, SWARM_KEY_PROTOCOL, { signal: AbortSignal.timeout(bound(5000)) })
    stream.send(Uint8Array.from([0x80, 0xad, 0xe2, 0x04]))
    assert.equal(await bytesUntilEnd(stream), 0, 'no reply to garbage')
    await E.net.hangUp(A.id)
    // the creator still serves its members
    assert.equal(A.swarm.status().joined, true)
    assert.equal(await echo(B, A, 'still serving'), 'still serving')
    // every connection the protector wrapped and that closed was released
    const stats = protectorOf(B).stats
    assert.ok(stats.protected > 0)
    await waitFor(() => stats.open === B.net.host.getConnections().length, 10_000, 'open protected connections = live connections')
  })
})

describe('swarm: listen port 0', { timeout: 120_000 }, () => {
  it('a rotation keeps the port each node bound first, so members reconnect directly on the new epoch', async (t) => {
    const nodes = await Promise.all([0, 1, 2].map(async () => await startSwarmNode({ port: 0 })))
    t.after(async () => {
      await Promise.allSettled(nodes.map(async n => { await n.stop() }))
      for (const n of nodes) removeDir(n.dir)
    })
    const [A, B, C] = nodes as [SwarmNode, SwarmNode, SwarmNode]
    const st = await A.swarm.create('moving', [B.id, C.id])
    await B.swarm.join(st.keyService[0]!)
    await C.swarm.join(st.keyService[0]!)
    await waitFor(() => A.net.isConnected(B.id) && A.net.isConnected(C.id), 20_000, 'members connected')
    const before = A.net.host.getMultiaddrs().map(a => a.toString())
    const recovering: string[] = []
    for (const n of [B, C]) n.swarm.addEventListener('swarm:recovering', () => { recovering.push(n.id) })
    const r = await A.swarm.rotate()
    assert.equal(r.epoch, 2)
    assert.deepEqual(A.net.host.getMultiaddrs().map(a => a.toString()).sort(), before.sort(), 'the creator kept its addresses across the host switch')
    await waitFor(() => [B, C].every(n => n.swarm.status().epoch === 2 && n.net.isConnected(A.id)), 40_000, 'members back with the creator')
    assert.deepEqual(recovering, [], 'no member needed the key service: the creator was where they left it')
    await addHandlers(B)
    await addHandlers(C)
    const stream = await B.net.dialProtocol(C.id, ECHO, { signal: AbortSignal.timeout(bound(8000)) })
    stream.send(new TextEncoder().encode('moved'))
    await stream.close()
    let out = ''
    for await (const c of stream) out += new TextDecoder().decode(c.subarray())
    assert.equal(out, 'moved')
  })
})

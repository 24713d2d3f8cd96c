/**
 * Private swarms on real libp2p nodes over loopback TCP (createNetwork + createSwarmManager):
 * members talk; outsiders without the key cannot connect; unauthorised key requests are refused
 * with a typed error; invites are single-use; rotation with a revoked peer; an offline member
 * comes back by itself; restarts keep membership; 256 MiB cross the PSK protector intact.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { UnauthorizedError } from '../../src/errors.js'
import { pskProtector, type PskProtectorFactory } from '../../src/swarm/protector.js'
import { SWARM_KEY_PROTOCOL } from '../../src/swarm/wire.js'
import { removeDir, startSwarmNode, waitFor, type SwarmNode } from './helpers.js'
import type { Stream } from '@libp2p/interface'

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

async function echo (from: SwarmNode, to: SwarmNode, text: string): Promise<string> {
  const stream = await from.net.dialProtocol(`/ip4/127.0.0.1/tcp/${to.port}/p2p/${to.id}`, ECHO, { signal: AbortSignal.timeout(8000) })
  stream.send(new TextEncoder().encode(text))
  await stream.close()
  let out = ''
  for await (const chunk of stream) out += new TextDecoder().decode(chunk.subarray())
  return out
}

/** Bytes read until the stream ends or is reset (a reset is how a refused stream ends). */
async function bytesUntilEnd (stream: Stream): Promise<number> {
  let n = 0
  try {
    for await (const c of stream) n += c.byteLength
  } catch { /* reset by the remote: counted as ended */ }
  return n
}

async function addHandlers (n: SwarmNode): Promise<void> {
  await n.net.handle(ECHO, (s) => { void echoHandler(s) })
  await n.net.handle(SINK, (s) => { void sinkHandler(s) })
}

describe('private swarm on 5 real nodes', { timeout: 200_000 }, () => {
  let A: SwarmNode // creator
  let B: SwarmNode // member (authorised at create)
  let C: SwarmNode // member, revoked later
  let D: SwarmNode // member by invite; goes offline during a rotation
  let E: SwarmNode // outsider
  const dirs: string[] = []
  const nodes = (): SwarmNode[] => [A, B, C, D, E].filter(n => n != null)

  before(async () => {
    ;[A, B, C, D, E] = await Promise.all([0, 1, 2, 3, 4].map(async () => await startSwarmNode())) as [SwarmNode, SwarmNode, SwarmNode, SwarmNode, SwarmNode]
    for (const n of nodes()) { dirs.push(n.dir); await addHandlers(n) }
  })

  after(async () => {
    await Promise.allSettled(nodes().map(async n => { await n.stop() }))
    for (const d of dirs) removeDir(d)
  })

  it('creator creates; authorised members join by address and by invite; they exchange data', async () => {
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

    const token = await A.swarm.invite({ ttlMs: 60_000 })
    const d = await D.swarm.join(token)
    assert.equal(d.role, 'member')
    assert.ok(A.swarm.status().authorised.includes(D.id), 'invite authorised D')

    assert.equal(await echo(B, C, 'b->c'), 'b->c')
    assert.equal(await echo(D, B, 'd->b'), 'd->b')
    assert.equal(await echo(C, A, 'c->a'), 'c->a')
  })

  it('an unauthorised key request is refused with a typed error and logged; an invite works once', async () => {
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

    // a used invite is refused; so is a made-up one
    const token = await A.swarm.invite()
    const outsiderToo = await startSwarmNode()
    dirs.push(outsiderToo.dir)
    try {
      await outsiderToo.swarm.join(token)
      assert.equal(outsiderToo.swarm.status().joined, true)
    } finally {
      await outsiderToo.swarm.leave()
      await outsiderToo.stop()
    }
    await assert.rejects(E.swarm.join(token), { name: 'InvalidInviteError' })
    await A.swarm.revoke(outsiderToo.id, { rotate: false })
  })

  it('an outsider without the key cannot complete a connection to any member', async () => {
    // E on the public network (no PSK); no connection left over from its key request
    for (const m of [A, B, C, D]) {
      await E.net.hangUp(m.id)
      await assert.rejects(E.net.dial(`/ip4/127.0.0.1/tcp/${m.port}/p2p/${m.id}`, { signal: AbortSignal.timeout(5000) }))
    }
    // E with a PSK of its own (wrong key), and even listed in nobody's allow-list
    await E.net.switchProfile({ name: 'swarm:lab', connectionProtector: pskProtector({ psk: randomBytes(32) }), dhtProtocolPrefix: '/dmsnet/swarm/lab', bootstrap: [] })
    try {
      for (const m of [A, B]) {
        await assert.rejects(E.net.dial(`/ip4/127.0.0.1/tcp/${m.port}/p2p/${m.id}`, { signal: AbortSignal.timeout(5000) }))
      }
    } finally {
      await E.net.switchProfile({ name: 'public', dhtProtocolPrefix: '/dmsnet', bootstrap: [] })
    }
    for (const m of [A, B, C, D]) assert.ok(!m.net.peers().includes(E.id), 'no member has a connection from E')
    // members are still fine
    assert.equal(await echo(B, D, 'still here'), 'still here')
  })

  it('256 MiB between two members inside the swarm arrive intact (sha256)', async () => {
    const total = 256 * 1024 * 1024
    const chunk = 256 * 1024
    const stream = await B.net.dialProtocol(`/ip4/127.0.0.1/tcp/${D.port}/p2p/${D.id}`, SINK, { signal: AbortSignal.timeout(10_000) })
    const h = createHash('sha256')
    const block = randomBytes(chunk)
    const t0 = Date.now()
    for (let sent = 0; sent < total; sent += chunk) {
      // vary the bytes (and make chunk ends odd for the keystream) without a fresh random buffer each time
      block.writeUInt32LE(sent, (sent / chunk) % (chunk - 4))
      const part = sent + chunk > total ? block.subarray(0, total - sent) : block
      h.update(part)
      if (!stream.send(new Uint8Array(part))) await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
    await stream.close()
    let reply = ''
    for await (const c of stream) reply += new TextDecoder().decode(c.subarray())
    const secs = (Date.now() - t0) / 1000
    const [digest, n] = reply.split(' ')
    assert.equal(Number(n), total)
    assert.equal(digest, h.digest('hex'))
    // the connection really went through the PSK protector
    assert.equal(B.net.profile.name, 'swarm:lab')
    console.error(`# 256 MiB over the PSK swarm in ${secs.toFixed(1)} s (${(total / 1e6 / secs).toFixed(0)} MB/s)`)
  })

  it('rotation with C revoked: the others talk on the new key, C is out and its dials fail', async () => {
    const revokedEvt = new Promise<void>(resolve => { C.swarm.addEventListener('swarm:revoked', () => { resolve() }, { once: true }) })
    const oldKeyC = C.net.profile.connectionProtector
    await A.swarm.revoke(C.id) // rotates by default
    assert.equal(A.swarm.status().epoch, 2)
    await waitFor(() => B.swarm.status().epoch === 2 && D.swarm.status().epoch === 2, 20_000, 'members on epoch 2')
    assert.equal(await echo(B, D, 'epoch 2'), 'epoch 2')
    assert.equal(await echo(D, A, 'epoch 2 to creator'), 'epoch 2 to creator')
    await revokedEvt
    assert.equal(C.swarm.status().joined, false)
    assert.equal(C.net.profile.name, 'public')
    // C's dials fail, from the public network and with its old swarm key
    await assert.rejects(C.net.dial(`/ip4/127.0.0.1/tcp/${B.port}/p2p/${B.id}`, { signal: AbortSignal.timeout(5000) }))
    await C.net.switchProfile({ name: 'swarm:lab', connectionProtector: oldKeyC, dhtProtocolPrefix: '/dmsnet/swarm/lab', bootstrap: [] })
    try {
      await assert.rejects(C.net.dial(`/ip4/127.0.0.1/tcp/${D.port}/p2p/${D.id}`, { signal: AbortSignal.timeout(5000) }))
    } finally {
      await C.net.switchProfile({ name: 'public', dhtProtocolPrefix: '/dmsnet', bootstrap: [] })
    }
    // and asking for the key again is refused
    await assert.rejects(C.swarm.join(A.swarm.status().keyService[0]!), { name: 'SwarmUnauthorizedError' })
  })

  it('a member offline during a rotation comes back by itself on restart (state kept)', async () => {
    const { dir, port, id } = D
    await D.stop()
    const r = await A.swarm.rotate()
    assert.equal(r.epoch, 3)
    assert.ok(!r.delivered.includes(id))
    await waitFor(() => B.swarm.status().epoch === 3, 20_000, 'B on epoch 3')

    D = await startSwarmNode({ dir, port })
    await addHandlers(D)
    assert.equal(D.id, id)
    // resumed from the state file: joined, same swarm; the old key fails, it recovers via the key service
    await waitFor(() => D.swarm.status().epoch === 3 && D.net.isConnected(A.id), 30_000, 'D back on epoch 3')
    assert.equal(D.swarm.status().name, 'lab')
    assert.equal(await echo(D, B, 'back'), 'back')
  })

  it('restarting a member and the creator keeps membership', async () => {
    const { dir, port } = B
    await B.stop()
    B = await startSwarmNode({ dir, port })
    await addHandlers(B)
    await waitFor(() => B.net.isConnected(A.id), 20_000, 'B reconnected')
    assert.equal(B.swarm.status().epoch, 3)
    assert.equal(B.net.profile.name, 'swarm:lab')

    const a = { dir: A.dir, port: A.port, ks: A.swarm.status().keyService }
    await A.stop()
    A = await startSwarmNode({ dir: a.dir, port: a.port })
    await addHandlers(A)
    const st = A.swarm.status()
    assert.equal(st.role, 'creator')
    assert.equal(st.epoch, 3)
    assert.deepEqual(st.keyService, a.ks, 'key service back on the same address')
    assert.equal(A.net.profile.name, 'swarm:lab')
    await waitFor(() => A.net.isConnected(B.id) && A.net.isConnected(D.id), 30_000, 'members reconnected to the restarted creator')
    assert.equal(await echo(A, B, 'after restart'), 'after restart')
  })

  it('leave returns to the public network; join by name re-enters', async () => {
    await D.swarm.leave()
    assert.equal(D.net.profile.name, 'public')
    assert.equal(D.swarm.status().joined, false)
    await D.swarm.join('lab')
    assert.equal(D.net.profile.name, 'swarm:lab')
    await waitFor(() => D.net.isConnected(A.id), 20_000, 'D rejoined')
    assert.equal(await echo(D, A, 'rejoined'), 'rejoined')
  })

  it('garbage on the key protocol is dropped without a reply or a crash; protector keeps no dead connections', async () => {
    const ks = A.swarm.status().keyService[0]!
    // not JSON
    let stream = await E.net.dialProtocol(ks, SWARM_KEY_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    stream.send(Uint8Array.from([8, ...new TextEncoder().encode('not json')]))
    assert.equal(await bytesUntilEnd(stream), 0, 'no reply to garbage')
    // a length prefix of 10 MB (limit 64 KiB)
    stream = await E.net.dialProtocol(ks, SWARM_KEY_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    stream.send(Uint8Array.from([0x80, 0xad, 0xe2, 0x04]))
    assert.equal(await bytesUntilEnd(stream), 0, 'no reply to garbage')
    await E.net.hangUp(A.id)
    // the creator still serves its members
    assert.equal(A.swarm.status().joined, true)
    assert.equal(await echo(B, A, 'still serving'), 'still serving')
    // every connection the protector wrapped and that closed was released
    const stats = (B.net.profile.connectionProtector as PskProtectorFactory).stats
    assert.ok(stats.protected > 0)
    await waitFor(() => stats.open === B.net.host.getConnections().length, 10_000, 'open protected connections = live connections')
  })
})

describe('private swarm with listen port 0', { timeout: 120_000 }, () => {
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
    const stream = await B.net.dialProtocol(C.id, ECHO, { signal: AbortSignal.timeout(8000) })
    stream.send(new TextEncoder().encode('moved'))
    await stream.close()
    let out = ''
    for await (const c of stream) out += new TextDecoder().decode(c.subarray())
    assert.equal(out, 'moved')
  })
})

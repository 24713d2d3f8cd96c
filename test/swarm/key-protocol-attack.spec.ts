/**
 * The swarm key protocol against a revoked member and an outsider, on real nodes over loopback TCP:
 * the revoked member (it joined with an invite, was revoked, and keeps its software and identity)
 * replays its used invite, asks for the key and for a statement again, and sends creator-only and
 * reply-type messages; the outsider sends garbage, an oversized length prefix, a request it never
 * finishes, and fields of the wrong type. Every request is refused or dropped, each kind is
 * counted (`refused`, `foreignMessages`, `protocolFailures`), nothing changes the creator's
 * authorised list or epoch, and a member's key request is served before and after (the positive
 * control).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { request, SWARM_KEY_PROTOCOL, type SwarmMessage } from '../../src/swarm/wire.js'
import { bytesUntilEnd, removeDir, startSwarmNode, waitFor, type SwarmNode } from './helpers.js'
import type { SwarmStatus } from '../../src/swarm/types.js'

async function ask (from: SwarmNode, to: string, msg: unknown): Promise<SwarmMessage> {
  const stream = await from.net.dialProtocol(to, SWARM_KEY_PROTOCOL, { signal: AbortSignal.timeout(8000) })
  return await request(stream, msg as SwarmMessage, { signal: AbortSignal.timeout(8000) })
}


/** Sends raw bytes on a new key-protocol stream; resolves with the bytes of any reply once it ends. */
async function raw (from: SwarmNode, to: string, bytes: Uint8Array, end = true): Promise<number> {
  const stream = await from.net.dialProtocol(to, SWARM_KEY_PROTOCOL, { signal: AbortSignal.timeout(8000) })
  stream.send(bytes)
  if (end) await stream.close({ signal: AbortSignal.timeout(8000) }).catch(() => {})
  return await bytesUntilEnd(stream)
}

const lp = (json: string): Uint8Array => {
  const body = new TextEncoder().encode(json)
  if (body.byteLength > 127) throw new Error('one-byte length prefix only')
  return Uint8Array.from([body.byteLength, ...body])
}

const codeOf = (m: SwarmMessage): string => m.t === 'err' ? m.code : m.t
const failures = (s: SwarmStatus): NonNullable<SwarmStatus['protocolFailures']> => s.protocolFailures!

test('swarm key protocol: a revoked member and an outsider get nothing; every kind of attempt is counted', { timeout: 120_000 }, async (t) => {
  // the creator answers within 2 s or drops the stream (the request-timeout attack waits for that)
  const A = await startSwarmNode({ init: { requestTimeoutMs: 2000 } })
  const [B, C, E] = await Promise.all([0, 1, 2].map(async () => await startSwarmNode())) as [SwarmNode, SwarmNode, SwarmNode]
  t.after(async () => {
    await Promise.allSettled([A, B, C, E].map(async n => { await n.stop() }))
    for (const n of [A, B, C, E]) removeDir(n.dir)
  })
  const st = await A.swarm.create('kp', [B.id])
  const ks = st.keyService[0]!
  await B.swarm.join(ks)
  // C joins with an invite: it keeps the (now used) secret
  const token = await A.swarm.invite()
  const secret = (JSON.parse(Buffer.from(token.slice('dmsnet-swarm:'.length), 'base64url').toString()) as { s: string }).s
  // positive control: while a member, C is served the key (join asks the key service for it)
  await C.swarm.join(token)
  assert.ok(A.swarm.status().authorised.includes(C.id))
  assert.equal(C.swarm.status().joined, true)

  await A.swarm.revoke(C.id, { rotate: false })
  // C goes back to the public network (told by the creator, or by itself when that push did not
  // reach it), from where it keeps trying the key service under its identity
  if (C.swarm.status().joined) await C.swarm.leave()
  assert.equal(C.net.profile.name, 'public')
  const authorised = [...A.swarm.status().authorised].sort()
  const before = A.swarm.status()

  await t.test('the revoked member: used invite, key and statement requests, creator-only and reply-type messages', async () => {
    const refusedBefore = A.swarm.status().refused
    const foreignBefore = A.swarm.status().foreignMessages
    assert.equal(codeOf(await ask(C, ks, { t: 'get', swarm: 'kp', invite: secret })), 'bad-invite', 'its used invite, replayed')
    assert.equal(codeOf(await ask(C, ks, { t: 'get', swarm: 'kp' })), 'unauthorized', 'the same key request that worked before the revoke')
    assert.equal(codeOf(await ask(C, ks, { t: 'get', swarm: '' })), 'unauthorized', 'the name-less form')
    assert.equal(codeOf(await ask(C, ks, { t: 'get', swarm: 'kp', epoch: 1 })), 'unauthorized')
    assert.equal(codeOf(await ask(C, ks, { t: 'sync', swarm: 'kp', seq: 0 })), 'unauthorized', 'a statement request')
    assert.equal(A.swarm.status().refused, refusedBefore + 5, 'each refusal counted')
    // messages only the creator may send, and replies sent as requests: refused as foreign
    const foreign: unknown[] = [
      { t: 'members', swarm: 'kp', authorised: [C.id], bootstrap: [] },
      { t: 'switch', swarm: 'kp', epoch: 1 },
      { t: 'revoked', swarm: 'kp' },
      { t: 'ok', epoch: 99 },
      { t: 'err', code: 'busy', message: 'x' }
    ]
    for (const msg of foreign) assert.equal(codeOf(await ask(C, ks, msg)), 'unauthorized', JSON.stringify(msg))
    assert.equal(A.swarm.status().foreignMessages, foreignBefore + foreign.length)
  })

  await t.test('the outsider: garbage, an oversized length, an unfinished request, wrong field types', async () => {
    const f0 = failures(A.swarm.status())
    assert.equal(await raw(E, ks, Uint8Array.from([8, ...new TextEncoder().encode('not json')])), 0, 'no reply to non-JSON')
    assert.equal(await raw(E, ks, lp('{"t":"steal","swarm":"kp"}')), 0, 'no reply to an unknown type')
    assert.equal(await raw(E, ks, lp('[1,2,3]')), 0, 'no reply to an array')
    assert.equal(await raw(E, ks, Uint8Array.from([0x80, 0xad, 0xe2, 0x04])), 0, 'no reply to a 10 MB length prefix')
    await waitFor(() => failures(A.swarm.status()).malformed >= f0.malformed + 3 && failures(A.swarm.status()).oversized >= f0.oversized + 1, 10_000, 'the malformed and oversized streams counted')
    // a request that announces 100 bytes and sends 10, then waits: dropped after the request timeout
    assert.equal(await raw(E, ks, Uint8Array.from([100, ...new Uint8Array(10)]), false), 0, 'no reply to an unfinished request')
    await waitFor(() => failures(A.swarm.status()).timeout >= f0.timeout + 1, 10_000, 'the unfinished request counted')
    // a request cut short by the requester itself: counted as closed
    assert.equal(await raw(E, ks, Uint8Array.from([100, ...new Uint8Array(10)])), 0, 'no reply to a truncated request')
    await waitFor(() => failures(A.swarm.status()).closed >= f0.closed + 1, 10_000, 'the truncated request counted')
    // well-framed, wrong field types: refused with a reply, not served
    assert.equal(codeOf(await ask(E, ks, { t: 'get', swarm: { name: 'kp' } })), 'unknown-swarm')
    assert.equal(codeOf(await ask(E, ks, { t: 'get', swarm: 'kp', invite: ['x'] })), 'bad-invite')
    assert.equal(codeOf(await ask(E, ks, { t: 'get', swarm: 'kp', invite: null })), 'unauthorized')
    assert.equal(codeOf(await ask(E, ks, { t: 'sync', swarm: 7 })), 'unknown-swarm')
    assert.equal(codeOf(await ask(E, ks, { t: 'push', env: { not: 'an envelope' } })), 'unauthorized')
    const f1 = failures(A.swarm.status())
    assert.deepEqual(f1, { malformed: f0.malformed + 3, oversized: f0.oversized + 1, timeout: f0.timeout + 1, closed: f0.closed + 1 }, 'each dropped stream counted once, by kind')
  })

  await t.test('nothing changed on the creator; the key service still serves', async () => {
    const now = A.swarm.status()
    assert.deepEqual([...now.authorised].sort(), authorised)
    assert.equal(now.epoch, before.epoch)
    assert.equal(now.joined, true)
    assert.ok(!now.authorised.includes(C.id) && !now.authorised.includes(E.id))
    // positive control: the service still serves; the outsider, given a valid invite, gets the key
    const invite = await A.swarm.invite()
    const s2 = (JSON.parse(Buffer.from(invite.slice('dmsnet-swarm:'.length), 'base64url').toString()) as { s: string }).s
    assert.equal(codeOf(await ask(E, ks, { t: 'get', swarm: 'kp', invite: s2 })), 'key')
    assert.ok(A.swarm.status().authorised.includes(E.id))
  })
})

/**
 * The private swarm against hostile peers, on real nodes over loopback TCP. The attackers are
 * built from the project's own parts (createNetwork, the PSK protector, the key protocol's wire
 * codec, sealTo): a revoked member that ignores its revocation and keeps the old key, a member
 * sending creator-only messages, a replayed old-epoch key and statement, a revoked peer holding an
 * invite, an expired invite, and anonymous peers filling the key service's connection slots.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { readFileSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { loadOrCreateIdentity } from '../../src/network/identity.js'
import { DEFAULT_KEY_SERVICE_LIMITS, startKeyService } from '../../src/swarm/key-service.js'
import { pskProtector } from '../../src/swarm/protector.js'
import { sealTo } from '../../src/swarm/seal.js'
import { readSwarmState } from '../../src/swarm/state.js'
import { request, SWARM_KEY_PROTOCOL, type KeyPayload, type SwarmMessage } from '../../src/swarm/wire.js'
import { removeDir, startSwarmNode, waitFor, type SwarmNode } from './helpers.js'
import type { HostProfile } from '../../src/network/types.js'

const PING = '/ipfs/ping/1.0.0'
/** How a dial with a different key ends: the PSK mismatch cuts the handshake (reset or stall). */
const refusedDial = (err: Error): boolean => err.name === 'DialError' || err.name === 'TimeoutError'
/** How a dial with the matching key but an unlisted identity ends: the remote gater closes it after Noise. */
const gaterRefused = { name: 'DialError' }
const addrOf = (n: SwarmNode): string => `/ip4/127.0.0.1/tcp/${n.port}/p2p/${n.id}`

async function ask (from: SwarmNode, to: string, msg: SwarmMessage): Promise<SwarmMessage> {
  const stream = await from.net.dialProtocol(to, SWARM_KEY_PROTOCOL, { signal: AbortSignal.timeout(8000) })
  return await request(stream, msg, { signal: AbortSignal.timeout(8000) })
}

/** The swarm profile an attacker builds from a key it kept: no allow-list of its own. */
function oldKeyProfile (psk: string): HostProfile {
  return { name: 'swarm:lab', connectionProtector: pskProtector({ psk: new Uint8Array(Buffer.from(psk, 'hex')) }), dhtProtocolPrefix: '/dmsnet/swarm/lab', bootstrap: [] }
}

describe('private swarm against hostile peers', { timeout: 150_000 }, () => {
  let A: SwarmNode // creator
  let B: SwarmNode // member; offline during the revocation
  let C: SwarmNode // member, then revoked: ignores it and keeps the old key
  let D: SwarmNode // member sending creator-only messages
  let E: SwarmNode // outsider
  const dirs: string[] = []
  const nodes = (): SwarmNode[] => [A, B, C, D, E].filter(n => n != null)
  let creatorBackup = ''
  let epoch1 = { psk: '', authorised: [] as string[] } // the real epoch-1 key and list, as B held them

  before(async () => {
    ;[A, B, C, D, E] = await Promise.all([0, 1, 2, 3, 4].map(async (i) => await startSwarmNode(i === 0 ? { init: { keyServiceLimits: { maxConnectionsPerAddress: 3 } } } : {}))) as [SwarmNode, SwarmNode, SwarmNode, SwarmNode, SwarmNode]
    for (const n of nodes()) dirs.push(n.dir)
    await A.swarm.create('lab', [B.id, C.id, D.id])
    for (const m of [B, C, D]) await m.swarm.join(A.swarm.status().keyService[0]!)
    await waitFor(() => [B, C, D].every(m => m.swarm.status().membershipFresh === true), 20_000, 'members hold a fresh statement')
    creatorBackup = readFileSync(A.config.swarm.stateFile, 'utf8') // epoch 1, C still authorised
    const b1 = readSwarmState(B.config.swarm.stateFile)!
    epoch1 = { psk: b1.psk, authorised: [...b1.authorised] }
  })

  after(async () => {
    await Promise.allSettled(nodes().map(async n => { await n.stop() }))
    for (const d of dirs) removeDir(d)
  })

  it('non-creator push/switch/members, a forged current-epoch key and an old statement change no epoch or allow-list', async () => {
    const prior = B.swarm.status()
    const foreignBefore = prior.foreignMessages
    const allowBefore = [...(B.net.profile.allowPeers ?? [])].sort()
    // D (a member, but not the creator) sends every creator-only message to B
    const creatorKey = (await loadOrCreateIdentity(A.config.network.identityFile)).privateKey
    const stale: KeyPayload = { swarm: 'lab', epoch: 1, psk: 'ab'.repeat(32), creator: A.id, authorised: [D.id], bootstrap: [], keyService: [], issuedAt: Date.now() }
    const env = await sealTo(creatorKey, A.id, B.id, new TextEncoder().encode(JSON.stringify(stale)))
    const forged: SwarmMessage[] = [
      { t: 'push', env },
      { t: 'switch', swarm: 'lab', epoch: 7 },
      { t: 'members', swarm: 'lab', authorised: [D.id, E.id], bootstrap: [] },
      { t: 'revoked', swarm: 'lab' }
    ]
    for (const msg of forged) {
      const reply = await ask(D, addrOf(B), msg)
      assert.deepEqual(reply.t === 'err' ? reply.code : reply.t, 'unauthorized', `${msg.t} from a non-creator is refused`)
    }
    assert.equal(B.swarm.status().foreignMessages, foreignBefore + forged.length, 'each refusal is counted once')
    // the creator's own identity pushes a different key for the epoch B already runs: acknowledged, nothing changes
    const replay = await ask(A, addrOf(B), { t: 'push', env })
    assert.deepEqual(replay, { t: 'ok', epoch: prior.epoch })
    // ...and a members message without a statement is refused
    const noStmt = await ask(A, addrOf(B), { t: 'members', swarm: 'lab', authorised: [E.id], bootstrap: [] })
    assert.equal(noStmt.t === 'err' ? noStmt.code : noStmt.t, 'bad-request')
    const now = B.swarm.status()
    assert.equal(now.epoch, prior.epoch)
    assert.deepEqual(now.authorised.sort(), prior.authorised.sort())
    assert.deepEqual([...(B.net.profile.allowPeers ?? [])].sort(), allowBefore)
    assert.equal(now.joined, true)
    assert.equal(readSwarmState(B.config.swarm.stateFile)!.pending, undefined, 'no pending key was stored')
    // positive control: a genuine membership change from the creator does reach B
    const oldStmt = readSwarmState(B.config.swarm.stateFile)!.members!
    await A.swarm.authorize(E.id)
    await waitFor(() => B.swarm.status().authorised.includes(E.id), 10_000, 'B sees the real change')
    // replaying the earlier (validly signed) statement from the creator's own identity is refused
    const old = await ask(A, addrOf(B), { t: 'members', swarm: 'lab', authorised: oldStmt.authorised, bootstrap: [], stmt: oldStmt })
    assert.equal(old.t === 'err' ? old.code : old.t, 'bad-request')
    assert.ok(B.swarm.status().authorised.includes(E.id), 'the older statement did not roll the list back')
    assert.ok(B.net.profile.allowPeers?.has(E.id))
  })

  it('a live member refuses a peer holding the current key under an unlisted identity', async () => {
    const psk = readSwarmState(A.config.swarm.stateFile)!.psk
    const X = await startSwarmNode()
    dirs.push(X.dir)
    try {
      await X.net.switchProfile(oldKeyProfile(psk))
      // positive control: with this key a listed member (B) reaches D
      const ok = await B.net.dialProtocol(addrOf(D), PING, { signal: AbortSignal.timeout(8000) })
      await ok.close()
      assert.equal(D.swarm.status().membershipFresh, true)
      const deniedBefore = (await D.net.status()).denied?.inbound ?? 0
      await assert.rejects(X.net.dialProtocol(addrOf(D), PING, { signal: AbortSignal.timeout(8000) }), gaterRefused)
      assert.ok(((await D.net.status()).denied?.inbound ?? 0) > deniedBefore, "D's gater counted the refusal")
      assert.ok(!D.net.peers().includes(X.id))
    } finally {
      await X.stop()
    }
  })

  it('expired and used invites: refused by the creator itself, no allow-list change; a valid one works', async () => {
    const ks = A.swarm.status().keyService[0]!
    const secretOf = (token: string): { s: string, e: number } => JSON.parse(Buffer.from(token.slice('dmsnet-swarm:'.length), 'base64url').toString())
    const token = await A.swarm.invite({ ttlMs: 1 })
    await waitFor(() => Date.now() > secretOf(token).e, 1000, 'invite expired')
    const valid = await A.swarm.invite()
    // two new identities, unknown to the creator
    const [Y, Z] = await Promise.all([0, 1].map(async () => await startSwarmNode())) as [SwarmNode, SwarmNode]
    dirs.push(Y.dir, Z.dir)
    try {
      const authorised = A.swarm.status().authorised.sort()
      // skip the joiner's own expiry check: present it on the wire
      const reply = await ask(Y, ks, { t: 'get', swarm: 'lab', invite: secretOf(token).s })
      assert.equal(reply.t === 'err' ? reply.code : reply.t, 'bad-invite')
      assert.deepEqual(A.swarm.status().authorised.sort(), authorised)
      assert.equal(A.swarm.status().epoch, 1)
      await assert.rejects(Y.swarm.join(token), { name: 'InvalidInviteError' })
      // positive control: the same identity with an unexpired invite is served the key and authorised
      const served = await ask(Y, ks, { t: 'get', swarm: 'lab', invite: secretOf(valid).s })
      assert.equal(served.t, 'key')
      assert.deepEqual(A.swarm.status().authorised.sort(), [...authorised, Y.id].sort())
      // the used invite, presented again by another new identity: refused, the list unchanged
      const used = await ask(Z, ks, { t: 'get', swarm: 'lab', invite: secretOf(valid).s })
      assert.equal(used.t === 'err' ? used.code : used.t, 'bad-invite')
      assert.deepEqual(A.swarm.status().authorised.sort(), [...authorised, Y.id].sort())
      assert.ok(!A.swarm.status().authorised.includes(Z.id))
      assert.equal(A.swarm.status().epoch, 1)
    } finally {
      await Promise.allSettled([Y, Z].map(async n => { await n.stop() }))
    }
  })

  it('a revoked peer with the old key cannot get back in through a member that was offline, which ends on the new epoch by itself; its invite is void', async () => {
    const oldPsk = readSwarmState(C.config.swarm.stateFile)!.psk
    const invite = await A.swarm.invite() // C obtained an invite before it was revoked
    const secret = JSON.parse(Buffer.from(invite.slice('dmsnet-swarm:'.length), 'base64url').toString()).s as string
    // positive control: with this key, C reaches B while both are members
    const ok = await C.net.dialProtocol(addrOf(B), PING, { signal: AbortSignal.timeout(8000) })
    await ok.close()
    assert.ok(B.net.peers().includes(C.id))
    // B goes offline; C stops listening to the creator (it will ignore the revocation)
    await B.stop()
    await C.swarm.stop()
    await A.swarm.revoke(C.id)
    assert.equal(A.swarm.status().epoch, 2)
    // B comes back with its old state (epoch 1, C listed); C dials it with the old key at once
    B = await startSwarmNode({ dir: B.dir, port: B.port })
    await C.net.switchProfile(oldKeyProfile(oldPsk))
    try {
      assert.equal(B.net.profile.allowPeers?.has(C.id), false, 'a restarted member admits only the creator until it holds a fresh statement')
      // B still runs epoch 1 here, so the keys match: B's gater refuses C after the handshake
      const deniedBefore = (await B.net.status()).denied?.inbound ?? 0
      await assert.rejects(C.net.dialProtocol(addrOf(B), PING, { signal: AbortSignal.timeout(5000) }), gaterRefused)
      assert.ok(((await B.net.status()).denied?.inbound ?? 0) > deniedBefore, "B's gater counted the refusal")
      // B recovers through the key service without help and ends on the new epoch
      await waitFor(() => B.swarm.status().epoch === 2 && B.swarm.status().membershipFresh === true, 60_000, 'B on epoch 2 with a fresh statement')
      assert.ok(!B.swarm.status().authorised.includes(C.id))
      assert.equal(B.net.profile.allowPeers?.has(C.id), false, 'C is no trusted VPN inviter for B')
      assert.ok(!B.net.peers().includes(C.id))
      await assert.rejects(C.net.dialProtocol(addrOf(B), PING, { signal: AbortSignal.timeout(5000) }), refusedDial)
    } finally {
      await C.net.switchProfile({ name: 'public', dhtProtocolPrefix: '/dmsnet', bootstrap: [] })
    }
    // the invite C kept is void: revoke voided every outstanding invite (they are bearer tokens)
    const ks = A.swarm.status().keyService[0]!
    const authorised = A.swarm.status().authorised.sort()
    const refused = A.swarm.status().refused
    const reply = await ask(C, ks, { t: 'get', swarm: 'lab', invite: secret })
    assert.equal(reply.t === 'err' ? reply.code : reply.t, 'bad-invite')
    await C.net.hangUp(A.id)
    // ...also when C presents it under a new identity (a fresh key pair, unknown to the creator)
    const fresh = await startSwarmNode()
    dirs.push(fresh.dir)
    try {
      const again = await ask(fresh, ks, { t: 'get', swarm: 'lab', invite: secret })
      assert.equal(again.t === 'err' ? again.code : again.t, 'bad-invite')
      assert.equal(A.swarm.status().refused, refused + 2, 'both refusals counted')
      assert.deepEqual(A.swarm.status().authorised.sort(), authorised, 'no one was authorised')
      assert.equal(A.swarm.status().invites, 0)
      // positive control: an invite issued after the revocation works for that same new identity
      const later = await A.swarm.invite()
      const laterSecret = JSON.parse(Buffer.from(later.slice('dmsnet-swarm:'.length), 'base64url').toString()).s as string
      const served = await ask(fresh, ks, { t: 'get', swarm: 'lab', invite: laterSecret })
      assert.equal(served.t, 'key')
      assert.ok(A.swarm.status().authorised.includes(fresh.id))
    } finally {
      await fresh.stop()
    }
    assert.ok(!A.swarm.status().authorised.includes(C.id))
  })

  it('a replayed old-epoch sealed key from the creator moves no member back', async () => {
    // let the creator's last membership broadcast (an invite redeemed just before) settle first
    const same = (): boolean => B.swarm.status().authorised.sort().join() === A.swarm.status().authorised.sort().join()
    await waitFor(same, 15_000, "B holds the creator's current list")
    const prior = B.swarm.status()
    assert.equal(prior.epoch, 2)
    const allowBefore = [...(B.net.profile.allowPeers ?? [])].sort()
    // the genuine epoch-1 key and list (C still in it), sealed by the creator's identity to B
    const creatorKey = (await loadOrCreateIdentity(A.config.network.identityFile)).privateKey
    const old: KeyPayload = { swarm: 'lab', epoch: 1, psk: epoch1.psk, creator: A.id, authorised: epoch1.authorised, bootstrap: [], keyService: [], issuedAt: Date.now() }
    const env = await sealTo(creatorKey, A.id, B.id, new TextEncoder().encode(JSON.stringify(old)))
    const foreignBefore = prior.foreignMessages
    const reply = await ask(A, addrOf(B), { t: 'push', env })
    // opened and checked (not refused as foreign or malformed); B answers with the epoch it keeps
    assert.deepEqual(reply, { t: 'ok', epoch: 2 })
    assert.equal(B.swarm.status().foreignMessages, foreignBefore)
    // an order to switch to epoch 1 finds no key held for it
    const sw = await ask(A, addrOf(B), { t: 'switch', swarm: 'lab', epoch: 1 })
    assert.equal(sw.t === 'err' ? sw.code : sw.t, 'stale')
    const now = B.swarm.status()
    assert.equal(now.epoch, 2)
    assert.ok(!now.authorised.includes(C.id))
    assert.deepEqual(now.authorised.sort(), prior.authorised.sort())
    assert.deepEqual([...(B.net.profile.allowPeers ?? [])].sort(), allowBefore)
    const st = readSwarmState(B.config.swarm.stateFile)!
    assert.equal(st.epoch, 2)
    assert.equal(st.pending, undefined, 'no pending key was stored')
    assert.notEqual(st.psk, epoch1.psk)
  })

  it('the key service admits a bounded number of connections per address', async () => {
    const ks = A.swarm.status().keyService[0]!
    const extra = await Promise.all([0, 1, 2].map(async () => await startSwarmNode()))
    try {
      const refusedBefore = A.swarm.status().keyServiceStats!.refusedConnections
      const all = [E, ...extra]
      const results = await Promise.allSettled(all.map(async n => { await n.net.dial(ks, { signal: AbortSignal.timeout(8000) }) }))
      await waitFor(() => A.swarm.status().keyServiceStats!.refusedConnections > refusedBefore, 10_000, 'a refused connection counted')
      assert.ok(results.some(r => r.status === 'fulfilled'), 'positive control: connections up to the limit are served')
      // freeing the slots lets peers in again
      for (const n of all) await n.net.hangUp(A.id).catch(() => {})
      await waitFor(async () => {
        try {
          const reply = await ask(extra[0]!, ks, { t: 'get', swarm: 'lab' })
          return reply.t === 'err' && reply.code === 'unauthorized'
        } catch { return false }
      }, 15_000, 'the key service answers again')
    } finally {
      await Promise.allSettled(extra.map(async n => { await n.stop(); removeDir(n.dir) }))
    }
  })

  it('a creator restored from an old backup cannot move a member back to an older epoch', async () => {
    assert.equal(B.swarm.status().epoch, 2)
    const keyInit = { keyServiceLimits: { maxConnectionsPerAddress: 3 } }
    // B's only swarm peer is the creator (D leaves), so B notices it cannot reach the swarm
    await D.stop()
    await A.stop()
    writeFileSync(A.config.swarm.stateFile, creatorBackup, { mode: 0o600 })
    A = await startSwarmNode({ dir: A.dir, port: A.port, init: keyInit })
    assert.equal(A.swarm.status().epoch, 1, 'the creator runs the old epoch')
    const profiles: string[] = []
    const off = B.net.eventRegister('host:changed', (d) => { profiles.push(d.profile.name) })
    try {
      // B cannot reach the swarm with its epoch-2 key, asks the key service, is offered epoch 1
      await waitFor(() => profiles.indexOf('public') >= 0 && profiles.lastIndexOf('swarm:lab') > profiles.indexOf('public'), 60_000, 'B tried a recovery and went back into the swarm')
    } finally {
      off()
    }
    assert.equal(B.swarm.status().epoch, 2, 'B kept the newer epoch')
    assert.equal(readSwarmState(B.config.swarm.stateFile)!.epoch, 2)
    assert.ok(!B.swarm.status().authorised.includes(C.id))
  })
})

describe('private swarm: a member that cannot refresh its membership statement', { timeout: 120_000 }, () => {
  let A: SwarmNode // creator, goes down
  let B: SwarmNode // member
  let C: SwarmNode // member
  const dirs: string[] = []
  const fast = { membershipMaxAgeMs: 4000, membershipRefreshMs: 1000 }

  before(async () => {
    A = await startSwarmNode()
    ;[B, C] = await Promise.all([0, 1].map(async () => await startSwarmNode({ init: fast }))) as [SwarmNode, SwarmNode]
    dirs.push(A.dir, B.dir, C.dir)
    await A.swarm.create('lab', [B.id, C.id])
    for (const m of [B, C]) await m.swarm.join(A.swarm.status().keyService[0]!)
  })

  after(async () => {
    await Promise.allSettled([A, B, C].map(async n => { await n.stop() }))
    for (const d of dirs) removeDir(d)
  })

  it('admits only the creator once its statement is stale, drops the others, and trusts them again when the creator is back', async () => {
    await waitFor(() => B.swarm.status().membershipFresh === true, 15_000, 'B fresh')
    // positive control: while fresh, B admits and reaches C
    const s = await B.net.dialProtocol(addrOf(C), PING, { signal: AbortSignal.timeout(8000) })
    await s.close()
    assert.ok(B.net.profile.allowPeers?.has(C.id))
    await A.stop()
    await waitFor(() => B.swarm.status().membershipFresh === false && B.net.profile.allowPeers?.has(C.id) === false, 20_000, 'B narrowed its allow-list to the creator')
    await waitFor(() => !B.net.peers().includes(C.id), 10_000, 'B dropped its connection to C')
    assert.equal(B.swarm.status().joined, true, 'B keeps its key and stays in the swarm')
    assert.equal(B.swarm.status().epoch, 1)
    // the creator is back: B fetches a statement and admits C again
    A = await startSwarmNode({ dir: A.dir, port: A.port })
    await waitFor(() => B.swarm.status().membershipFresh === true && B.net.profile.allowPeers?.has(C.id) === true, 60_000, 'B fresh again')
  })
})

/** Dials the node made once more after a reset at connect (peer-lookup.ts), since it started. */
async function resetRetriesOf (n: SwarmNode): Promise<number> {
  return (await n.net.status()).dialRetries?.connectResetRetries ?? 0
}

describe('swarm key service: connection slots per address and connection lifetime', { timeout: 90_000 }, () => {
  const limits = { maxConnectionsPerAddress: 2, idleTimeoutMs: 2000 }
  let dialers: SwarmNode[] = []

  after(async () => {
    await Promise.allSettled(dialers.map(async n => { await n.stop(); removeDir(n.dir) }))
  })

  it('holds at most N connections from one address, refuses the next with DialError, closes each after its lifetime', async () => {
    assert.equal(DEFAULT_KEY_SERVICE_LIMITS.idleTimeoutMs, 15_000, 'the documented default lifetime')
    assert.equal(DEFAULT_KEY_SERVICE_LIMITS.maxConnectionsPerAddress, 16, 'the documented default per-address cap')
    const owner = await generateKeyPair('Ed25519')
    const ks = await startKeyService({ privateKey: owner, listen: ['/ip4/127.0.0.1/tcp/0'], handler: () => {}, limits })
    try {
      const owned = ks.addrs[0]!.split('/p2p/')[1]!
      dialers = await Promise.all([0, 1, 2].map(async () => await startSwarmNode()))
      const [first, second, third] = dialers as [SwarmNode, SwarmNode, SwarmNode]
      // positive control: N connections from 127.0.0.1 are accepted and held
      await first.net.dial(ks.addrs[0]!, { signal: AbortSignal.timeout(8000) })
      await second.net.dial(ks.addrs[0]!, { signal: AbortSignal.timeout(8000) })
      assert.ok(first.net.peers().includes(owned) && second.net.peers().includes(owned))
      // the next one from the same address is refused before the handshake
      await assert.rejects(third.net.dial(ks.addrs[0]!, { signal: AbortSignal.timeout(8000) }), { name: 'DialError' })
      // a refusal resets the connection at accept, and a dial reset that early is made once more
      // (peer-lookup.ts): each attempt is refused and counted
      const refused = 1 + await resetRetriesOf(third)
      assert.ok(refused <= 2, 'at most one more try')
      assert.equal(ks.stats().refusedConnections, refused)
      assert.ok(!third.net.peers().includes(owned))
      // the service closes every connection after its lifetime, even one its peer keeps open
      await waitFor(() => ks.stats().idleClosed === 2, 10_000, 'both held connections closed by the service')
      await waitFor(() => !first.net.peers().includes(owned) && !second.net.peers().includes(owned), 10_000, 'the dialers see the close')
      // ...which frees the slots: the refused peer gets in now
      await third.net.dial(ks.addrs[0]!, { signal: AbortSignal.timeout(8000) })
      assert.ok(third.net.peers().includes(owned))
      assert.equal(ks.stats().refusedConnections, refused)
    } finally {
      await ks.stop()
    }
  })

  it('a handshake that fails frees its slot when its socket closes, not after the connection lifetime', async () => {
    const ks = await startKeyService({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], handler: () => {}, limits: { maxConnectionsPerAddress: 2, idleTimeoutMs: 120_000 } })
    const sockets: Socket[] = []
    try {
      const port = Number(/\/tcp\/(\d+)/.exec(ks.addrs[0]!)![1])
      // two raw TCP connections that never finish a handshake hold both slots
      for (let i = 0; i < 2; i++) {
        const s = connect(port, '127.0.0.1')
        s.on('error', () => {})
        sockets.push(s)
      }
      await waitFor(() => ks.stats().pendingHandshakes === 2, 10_000, 'two handshakes pending')
      const dialer = await startSwarmNode()
      dialers.push(dialer)
      await assert.rejects(dialer.net.dial(ks.addrs[0]!, { signal: AbortSignal.timeout(8000) }), { name: 'DialError' })
      const refused = 1 + await resetRetriesOf(dialer) // each attempt refused (see above)
      assert.ok(refused <= 2, 'at most one more try')
      assert.equal(ks.stats().refusedConnections, refused)
      // they give up: the slots are free long before the 120 s lifetime
      for (const s of sockets) s.destroy()
      await waitFor(() => ks.stats().pendingHandshakes === 0, 10_000, 'failed handshakes released')
      await dialer.net.dial(ks.addrs[0]!, { signal: AbortSignal.timeout(8000) })
      assert.equal(ks.stats().refusedConnections, refused)
    } finally {
      for (const s of sockets) s.destroy()
      await ks.stop()
    }
  })
})

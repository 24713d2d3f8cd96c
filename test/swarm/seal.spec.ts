/**
 * Sealed key envelopes (Ed25519 -> X25519, HKDF, ChaCha20-Poly1305, sender signature), invite
 * tokens and the state file: round trips and every rejection path with its named error.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { formatInvite, hashInviteSecret, newInviteSecret, parseInvite } from '../../src/swarm/invite.js'
import { openSealed, sealTo } from '../../src/swarm/seal.js'
import { readSwarmState, writeSwarmState, type SwarmState } from '../../src/swarm/state.js'

async function identity (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

test('seal/open round trip; only the recipient opens; sender is checked', async () => {
  const creator = await identity()
  const member = await identity()
  const other = await identity()
  const secret = new TextEncoder().encode('the swarm key payload')
  const env = await sealTo(creator.key, creator.id, member.id, secret)
  const opened = await openSealed(member.key, member.id, env, creator.id)
  assert.deepEqual(opened.plaintext, secret)
  assert.equal(opened.from, creator.id)

  // addressed to someone else
  await assert.rejects(openSealed(other.key, other.id, env), { name: 'SealError' })
  // right recipient id but wrong key (a peer pretending to be the recipient)
  await assert.rejects(openSealed(other.key, member.id, env), { name: 'SealError' })
  // not from the expected creator
  await assert.rejects(openSealed(member.key, member.id, env, other.id), { name: 'SealError' })
  // tampered ciphertext: signature fails
  const ct = Buffer.from(env.ct, 'base64'); ct[0]! ^= 1
  await assert.rejects(openSealed(member.key, member.id, { ...env, ct: ct.toString('base64') }), { name: 'SealError' })
  // forged: re-signed by another peer claiming to be the creator
  const forged = await sealTo(other.key, creator.id, member.id, secret)
  await assert.rejects(openSealed(member.key, member.id, forged, creator.id), { name: 'SealError' })
  // garbage
  for (const bad of [null, 1, {}, { ...env, v: 2 }, { ...env, epk: '!!' }]) {
    await assert.rejects(openSealed(member.key, member.id, bad), { name: 'SealError' })
  }
})

test('invite tokens round trip and reject garbage', () => {
  const secret = newInviteSecret()
  const inv = { name: 's', creator: '12D3KooWBKzwsDoKqfjauD3ZMi9rEsnNoMqLUtn88AVKV78Chy56', addrs: ['/ip4/127.0.0.1/tcp/1'], secret, expiresAt: 123 }
  const token = formatInvite(inv)
  assert.match(token, /^dmsnet-swarm:[A-Za-z0-9_-]+$/)
  assert.deepEqual(parseInvite(token), inv)
  assert.equal(hashInviteSecret(secret).length, 64)
  for (const bad of ['nope', 'dmsnet-swarm:', 'dmsnet-swarm:!!!!', 'dmsnet-swarm:' + Buffer.from('{"n":1}').toString('base64url')]) {
    assert.throws(() => parseInvite(bad), { name: 'InvalidInviteError' })
  }
})

test('state file: 0600, round trip, malformed is a named error', (t) => {
  const dir = mkdtempSync(join(tmpdir(), `dmsnet-swarmstate-${process.pid}-`))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const path = join(dir, 'swarm.json')
  assert.equal(readSwarmState(path), undefined)
  const state: SwarmState = { version: 1, name: 's', role: 'member', creator: 'c', epoch: 3, psk: 'ab'.repeat(32), authorised: ['x'], bootstrap: [], keyService: ['/ip4/127.0.0.1/tcp/1/p2p/c'], joined: true, invites: [] }
  writeSwarmState(path, state)
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.deepEqual(readSwarmState(path), state)
  writeFileSync(path, '{not json')
  assert.throws(() => readSwarmState(path), { name: 'SwarmStateFileError' })
  writeFileSync(path, JSON.stringify({ ...state, psk: 'short' }))
  assert.throws(() => readSwarmState(path), { name: 'SwarmStateFileError' })
})

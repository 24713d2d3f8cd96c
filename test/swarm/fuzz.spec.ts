/**
 * Property-based fuzzing (fast-check, bounded in runs and time) of the swarm's parsers of
 * peer- or user-controlled input: key-protocol messages, the sealed key payload, sealed
 * envelopes, membership statements, invite tokens and swarm key files. Every input either parses
 * or fails with the named error the parser documents: never another exception, never a hang.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { formatInvite, INVITE_PREFIX, parseInvite } from '../../src/swarm/invite.js'
import { formatSwarmKey, generateSwarmKey, parseSwarmKey } from '../../src/swarm/key-file.js'
import { signMembership, verifyMembership } from '../../src/swarm/membership.js'
import { openSealed, sealTo } from '../../src/swarm/seal.js'
import { decodeMessage, decodePayload } from '../../src/swarm/wire.js'

const RUNS = { numRuns: 2000, interruptAfterTimeLimit: 15_000 }
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

async function expectNamed (fn: () => unknown, names: string[]): Promise<void> {
  try {
    await fn()
  } catch (err) {
    assert.ok(names.includes((err as Error).name), `unexpected ${(err as Error).name}: ${(err as Error).message}`)
  }
}

/** JSON-ish values, including the shapes the parsers look for with wrong field types. */
const jsonValue = fc.jsonValue({ maxDepth: 3 })
const messageLike = fc.record({ t: fc.constantFrom('get', 'key', 'push', 'switch', 'members', 'sync', 'revoked', 'ok', 'err', 'x'), swarm: jsonValue, epoch: jsonValue, env: jsonValue, authorised: jsonValue, stmt: jsonValue }, { requiredKeys: ['t'] })

describe('swarm: fuzzed parsers', { timeout: 120_000 }, () => {
  it('key-protocol messages and key payloads parse or fail with SwarmProtocolError', async () => {
    const names = ['SwarmProtocolError']
    await fc.assert(fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 256 }), jsonValue.map(v => enc(JSON.stringify(v) ?? '')), messageLike.map(v => enc(JSON.stringify(v)))), async (b) => {
      await expectNamed(() => decodeMessage(b), names)
      await expectNamed(() => decodePayload(b), names)
    }), RUNS)
  })

  it('sealed envelopes open or fail with SealError; membership statements verify or fail with SwarmProtocolError', async () => {
    const me = await generateKeyPair('Ed25519')
    const meId = peerIdFromPrivateKey(me).toString()
    const valid = await sealTo(me, meId, meId, enc('payload'))
    const stmt = await signMembership(me, { swarm: 'lab', creator: meId, epoch: 1, seq: 1, authorised: [meId] })
    const envLike = fc.record({ v: fc.oneof(fc.constant(1), jsonValue), from: fc.oneof(fc.constant(meId), jsonValue), to: fc.oneof(fc.constant(meId), jsonValue), epk: fc.oneof(fc.constant(valid.epk), fc.base64String()), nonce: fc.oneof(fc.constant(valid.nonce), fc.base64String()), ct: fc.oneof(fc.constant(valid.ct), fc.base64String()), sig: fc.oneof(fc.constant(valid.sig), fc.base64String()) })
    await fc.assert(fc.asyncProperty(fc.oneof(jsonValue, envLike), async (env) => {
      await expectNamed(async () => await openSealed(me, meId, env, meId), ['SealError'])
    }), { ...RUNS, numRuns: 500 })
    const stmtLike = fc.record({ v: fc.oneof(fc.constant(1), jsonValue), swarm: fc.oneof(fc.constant('lab'), jsonValue), creator: fc.oneof(fc.constant(meId), jsonValue), epoch: fc.oneof(fc.constant(1), jsonValue), seq: fc.oneof(fc.constant(1), jsonValue), authorised: fc.oneof(fc.constant([meId]), jsonValue), issuedAt: fc.oneof(fc.constant(stmt.issuedAt), jsonValue), sig: fc.oneof(fc.constant(stmt.sig), fc.base64String()) })
    await fc.assert(fc.asyncProperty(fc.oneof(jsonValue, stmtLike), async (s) => {
      await expectNamed(async () => await verifyMembership(s, meId, 'lab'), ['SwarmProtocolError'])
    }), { ...RUNS, numRuns: 500 })
  })

  it('invite tokens parse or fail with InvalidInviteError', () => {
    const valid = formatInvite({ name: 'lab', creator: 'c', addrs: ['/ip4/127.0.0.1/tcp/1'], secret: 's', expiresAt: 1 })
    const tokens = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ maxLength: 200 }).map(s => INVITE_PREFIX + s),
      jsonValue.map(v => INVITE_PREFIX + Buffer.from(JSON.stringify(v) ?? '').toString('base64url')),
      fc.tuple(fc.nat({ max: valid.length - 1 }), fc.string({ minLength: 1, maxLength: 1 })).map(([i, c]) => valid.slice(0, i) + c + valid.slice(i + 1))
    )
    fc.assert(fc.property(tokens, (t) => {
      try {
        const inv = parseInvite(t)
        assert.ok(Array.isArray(inv.addrs) && typeof inv.expiresAt === 'number')
      } catch (err) {
        assert.equal((err as Error).name, 'InvalidInviteError')
      }
    }), RUNS)
  })

  it('swarm key files parse to 32 bytes or fail with an InvalidSwarmKeyError', () => {
    const valid = formatSwarmKey(generateSwarmKey())
    const names = ['SwarmKeyHeaderError', 'SwarmKeyEncodingError', 'SwarmKeyLengthError']
    const inputs = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(fc.constantFrom('/base16/', '/base64/', '/bin/', '/b58/'), fc.string({ maxLength: 120 })).map(([e, k]) => `/key/swarm/psk/1.0.0/\n${e}\n${k}`),
      fc.tuple(fc.nat({ max: valid.length - 1 }), fc.string({ minLength: 1, maxLength: 1 })).map(([i, c]) => valid.slice(0, i) + c + valid.slice(i + 1))
    )
    fc.assert(fc.property(inputs, (input) => {
      try {
        assert.equal(parseSwarmKey(input).byteLength, 32)
      } catch (err) {
        assert.ok(names.includes((err as Error).name), `unexpected ${(err as Error).name}: ${(err as Error).message}`)
      }
    }), RUNS)
  })
})

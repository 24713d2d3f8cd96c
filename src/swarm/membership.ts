/**
 * The creator-signed membership statement: "in swarm S, at key epoch E, revision `seq`, the
 * authorised peers are [...]", signed by the creator's Ed25519 identity.
 *
 * Why: a member's allow-list used to change only when a `members` push reached it, so a member
 * that was offline during a revocation kept trusting the revoked peer. Members now admit anyone
 * but the creator only while they hold a statement they received from the creator recently
 * (see member.ts); the signature lets the statement be persisted and checked again later, and
 * `seq`/`epoch` let a member refuse an older statement replayed at it.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { SwarmProtocolError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

const DOMAIN = 'dmsnet:swarm:members:v1\0'
/** Most authorised peers one statement may list (keeps it under the 64 KiB wire bound). */
export const MAX_STATEMENT_MEMBERS = 1000

export interface MembershipStatement {
  v: 1
  swarm: string
  creator: string
  epoch: number
  /** Revision of the authorised list; grows with every change. */
  seq: number
  authorised: string[]
  /** Creator's clock when signed (informational: freshness is judged by the receiver's clock). */
  issuedAt: number
  /** base64 Ed25519 signature over DOMAIN + JSON of every other field. */
  sig: string
}

function signedBytes (s: Omit<MembershipStatement, 'sig'>): Uint8Array {
  return new TextEncoder().encode(DOMAIN + JSON.stringify([s.v, s.swarm, s.creator, s.epoch, s.seq, s.authorised, s.issuedAt]))
}

export async function signMembership (privateKey: PrivateKey, fields: Omit<MembershipStatement, 'v' | 'sig' | 'issuedAt'>): Promise<MembershipStatement> {
  const body = { v: 1 as const, ...fields, authorised: [...fields.authorised], issuedAt: Date.now() }
  const sig = await privateKey.sign(signedBytes(body))
  return { ...body, sig: Buffer.from(sig).toString('base64') }
}

/**
 * Checks shape and signature of a statement claimed to come from `creator` for `swarm`; throws
 * `SwarmProtocolError` otherwise. Says nothing about freshness or order: the caller compares
 * `epoch` and `seq` with what it holds.
 */
export async function verifyMembership (v: unknown, creator: string, swarm: string): Promise<MembershipStatement> {
  const bad = (why: string): never => { throw new SwarmProtocolError(`membership statement refused: ${why}`) }
  if (v == null || typeof v !== 'object') return bad('missing')
  const s = v as Record<string, unknown>
  if (s.v !== 1) bad('version')
  if (s.swarm !== swarm) bad('names another swarm')
  if (s.creator !== creator) bad('names another creator')
  if (!Number.isSafeInteger(s.epoch) || (s.epoch as number) < 1) bad('epoch')
  if (!Number.isSafeInteger(s.seq) || (s.seq as number) < 0) bad('seq')
  if (!Number.isSafeInteger(s.issuedAt)) bad('issuedAt')
  if (!Array.isArray(s.authorised) || s.authorised.length > MAX_STATEMENT_MEMBERS || !s.authorised.every(x => typeof x === 'string' && x.length <= 128)) bad('authorised')
  if (typeof s.sig !== 'string' || !/^[A-Za-z0-9+/]{1,200}={0,2}$/.test(s.sig)) bad('signature field')
  let pub
  try {
    pub = peerIdFromString(creator).publicKey
  } catch {
    return bad('creator is not a peer id')
  }
  if (pub == null) return bad('creator key is not embedded in its peer id')
  const stmt = s as unknown as MembershipStatement
  const sig = new Uint8Array(Buffer.from(stmt.sig, 'base64'))
  if (sig.byteLength !== 64) bad('signature length')
  let ok = false
  try {
    ok = await pub.verify(signedBytes(stmt), sig)
  } catch { /* a key type whose verify throws on odd input: not a valid signature either */ }
  if (!ok) bad('bad signature')
  return { v: 1, swarm: stmt.swarm, creator: stmt.creator, epoch: stmt.epoch, seq: stmt.seq, authorised: [...stmt.authorised], issuedAt: stmt.issuedAt, sig: stmt.sig }
}

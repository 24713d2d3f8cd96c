/**
 * Invite tokens: a one-time secret handed out of band that lets whoever presents it first be
 * authorised in the swarm. The token names the swarm, the creator and where its key service
 * listens, so the holder needs nothing else to join. The creator keeps only a hash of the secret.
 */
import { createHash, randomBytes } from 'node:crypto'
import { InvalidInviteError } from './errors.js'

export const INVITE_PREFIX = 'dmsnet-swarm:'

export interface Invite {
  /** Swarm name. */
  name: string
  /** Creator's peer id. */
  creator: string
  /** Creator's key-service addresses (with /p2p/). */
  addrs: string[]
  /** The one-time secret, base64url. */
  secret: string
  /** Unix ms after which the creator refuses it. */
  expiresAt: number
}

export function newInviteSecret (): string {
  return randomBytes(32).toString('base64url')
}

export function hashInviteSecret (secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

export function formatInvite (invite: Invite): string {
  const body = { n: invite.name, c: invite.creator, a: invite.addrs, s: invite.secret, e: invite.expiresAt }
  return INVITE_PREFIX + Buffer.from(JSON.stringify(body)).toString('base64url')
}

export function isInviteToken (s: string): boolean {
  return s.startsWith(INVITE_PREFIX)
}

export function parseInvite (token: string): Invite {
  if (!isInviteToken(token)) throw new InvalidInviteError(`an invite token starts with ${INVITE_PREFIX}`)
  let body: Record<string, unknown>
  try {
    body = JSON.parse(Buffer.from(token.slice(INVITE_PREFIX.length), 'base64url').toString('utf8'))
  } catch (err) {
    throw new InvalidInviteError('invite token is not decodable', { cause: err })
  }
  if (body == null || typeof body !== 'object' || typeof body.n !== 'string' || typeof body.c !== 'string' ||
    !Array.isArray(body.a) || !body.a.every(x => typeof x === 'string') || typeof body.s !== 'string' || typeof body.e !== 'number') {
    throw new InvalidInviteError('invite token lacks name, creator, addresses, secret or expiry')
  }
  return { name: body.n, creator: body.c, addrs: body.a as string[], secret: body.s, expiresAt: body.e }
}

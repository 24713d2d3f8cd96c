/**
 * Private-swarm control methods (`swarm.*`): what `dmsnet swarm ...` calls. No method returns the
 * swarm key. Handlers: src/daemon/features/swarm.ts (managed swarm) and swarm-static.ts (a static
 * key, where the managed methods answer SwarmStateError).
 */
import { z } from 'zod'
import { InvalidInviteError, SwarmStateError, SwarmUnauthorizedError } from '../../swarm/errors.js'
import { lazy, unary } from '../spec.js'

const count = (): z.ZodNumber => z.number().int()

/** src/swarm/types.ts SwarmStatus. */
const swarmStatus = lazy(() => z.object({
  name: z.string().optional(),
  role: z.enum(['creator', 'member']).optional(),
  joined: z.boolean(),
  epoch: count().optional(),
  creator: z.string().optional(),
  profile: z.string().meta({ description: 'the network profile the node runs (public, or the swarm\'s)' }),
  authorised: z.array(z.string()),
  connected: z.array(z.string()),
  bootstrap: z.array(z.string()),
  keyService: z.array(z.string()),
  refused: count(),
  invites: count(),
  membershipSeq: count().optional(),
  membershipFresh: z.boolean().optional(),
  keyServiceStats: z.object({ refusedConnections: count(), idleClosed: count(), pendingHandshakes: count().optional() }).optional(),
  foreignMessages: count(),
  protocolFailures: z.object({ malformed: count(), oversized: count(), timeout: count(), closed: count() }).optional()
    .meta({ description: 'key-protocol streams that ended without a reply, by kind (garbage, over 64 KiB, too slow, closed early)' })
}))

/** src/swarm/static.ts StaticSwarmStatus: a static private network (swarm.keyFile). */
const staticSwarmStatus = lazy(() => swarmStatus().extend({
  mode: z.literal('static'),
  name: z.string(),
  joined: z.literal(true),
  keyFile: z.string(),
  keyFileMode: z.string(),
  fingerprint: z.string(),
  allow: z.array(z.string()),
  protectedConnections: count(),
  cipher: z.enum(['avx512', 'sodium', 'js']).optional()
}))

export const create = unary('swarm.create', {
  description: 'create a private swarm (this node is its creator and bootstrap node) and enter it',
  params: () => z.object({ name: z.string().min(1), authorised: z.array(z.string().min(1)).default([]) }),
  result: () => swarmStatus(),
  errors: [SwarmStateError]
})

export const authorize = unary('swarm.authorize', {
  description: 'authorise a peer id in the swarm (creator)',
  params: () => z.object({ peer: z.string().min(1) }),
  result: () => swarmStatus(),
  errors: [SwarmStateError]
})

export const revoke = unary('swarm.revoke', {
  description: 'revoke a peer id and (by default) rotate the key (creator)',
  params: () => z.object({ peer: z.string().min(1), rotate: z.boolean().default(true) }),
  result: () => swarmStatus(),
  errors: [SwarmStateError]
})

export const invite = unary('swarm.invite', {
  description: 'a one-time invite token for one new member (creator)',
  params: () => z.object({ ttlMs: z.number().int().positive().max(30 * 24 * 3600 * 1000).optional() }),
  result: () => z.object({ token: z.string() }),
  errors: [SwarmStateError]
})

export const join = unary('swarm.join', {
  description: 'join a swarm: invite token, creator key-service multiaddr, or the name of a known swarm',
  params: () => z.object({ target: z.string().min(1), name: z.string().min(1).optional() }),
  result: () => swarmStatus(),
  errors: [SwarmStateError, SwarmUnauthorizedError, InvalidInviteError]
})

export const leave = unary('swarm.leave', {
  description: 'leave the swarm and return to the public network',
  result: () => swarmStatus(),
  errors: [SwarmStateError]
})

export const rotate = unary('swarm.rotate', {
  description: 'new key epoch pushed to the members, then everyone switches (creator)',
  result: () => z.object({ epoch: z.number().int(), delivered: z.array(z.string()), failed: z.array(z.string()) }),
  errors: [SwarmStateError]
})

export const status = unary('swarm.status', {
  description: 'swarm membership, epoch, role, authorised and connected peers (a static private network adds mode: static, key fingerprint and allow-list)',
  result: () => z.union([staticSwarmStatus(), swarmStatus()])
})

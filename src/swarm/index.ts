/**
 * Private swarms: the v1 swarm key file, a go-libp2p-compatible PSK connection protector, sealed
 * key exchange, and the `SwarmManager` (create, authorise, invite, join, leave, rotate, revoke).
 */
export * from './errors.js'
export * from './key-file.js'
export * from './protector.js'
export * from './seal.js'
export * from './state.js'
export * from './invite.js'
export * from './membership.js'
export { SWARM_KEY_PROTOCOL, type KeyPayload } from './wire.js'
export * from './swarm.js'
export * from './static.js'

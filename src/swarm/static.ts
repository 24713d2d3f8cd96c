/**
 * Static private networks, the Kubo way: the operator hands every node the same `swarm.key`
 * (config `swarm.keyFile`) and the node starts inside that PSK network, with no creator, no key
 * exchange and no rotation. `swarm.allow` optionally narrows it to listed peer ids;
 * `swarm.force` (or `LIBP2P_FORCE_PNET=1`, as in Kubo) refuses to start without a key.
 *
 * A managed swarm (swarm.ts: create/invite/join) and a static key are mutually exclusive: the
 * static one replaces the managed swarm module, whose commands then answer with a typed error
 * (the daemon's plug-in for it: src/daemon/features/swarm-static.ts).
 */
import { createHash } from 'node:crypto'
import { statSync } from 'node:fs'
import { ConfigError } from '../errors.js'
import { InvalidSwarmKeyError } from './errors.js'
import { readSwarmKeyFile } from './key-file.js'
import { pskProtector, type PskProtectorFactory } from './protector.js'
import { readSwarmState } from './state.js'
import type { Config } from '../config/schema.js'
import type { HostProfile, Network } from '../network/types.js'
import type { SwarmStatus } from './swarm.js'
import type { XSalsa20Kind } from './xsalsa20.js'

/** `swarm.force` / `LIBP2P_FORCE_PNET` is on and no `swarm.keyFile` is configured. */
export class PrivateNetworkRequiredError extends ConfigError {
  static override name = 'PrivateNetworkRequiredError'
}

/** `swarm.keyFile` cannot be read or is not a valid swarm key. */
export class SwarmKeyFileError extends ConfigError {
  static override name = 'SwarmKeyFileError'
}

/** `swarm.keyFile` is set while this node is a member of a managed swarm (swarm.json). */
export class SwarmModeConflictError extends ConfigError {
  static override name = 'SwarmModeConflictError'
}

export interface StaticSwarm {
  /** The profile the node's first (and only) host runs with. */
  profile: HostProfile
  keyFile: string
  /** First 16 hex digits of sha256(psk): compare it across nodes without showing the key. */
  fingerprint: string
  /** Permission bits of the key file, octal (`600`); anything readable by others is logged as a warning. */
  keyFileMode: string
  allow: string[]
  protector: PskProtectorFactory
}

/** True when `LIBP2P_FORCE_PNET` asks for a private network (Kubo accepts `1` and `true`). */
export function forcePnetFromEnv (env: Record<string, string | undefined>): boolean {
  const v = env.LIBP2P_FORCE_PNET?.trim().toLowerCase()
  return v === '1' || v === 'true'
}

export function keyFingerprint (psk: Uint8Array): string {
  return createHash('sha256').update(psk).digest('hex').slice(0, 16)
}

/**
 * Reads the static private network from the config, or returns undefined when none is
 * configured. Throws (before anything starts) when one is required but missing, unreadable,
 * malformed, or in conflict with a managed swarm.
 */
export function loadStaticSwarm (config: Config, env: Record<string, string | undefined> = process.env): StaticSwarm | undefined {
  const { keyFile, allow } = config.swarm
  const force = config.swarm.force || forcePnetFromEnv(env)
  if (keyFile === '') {
    if (force) {
      const why = config.swarm.force ? 'swarm.force is true' : 'LIBP2P_FORCE_PNET is set'
      throw new PrivateNetworkRequiredError(`${why} but no swarm.keyFile is configured: refusing to start outside a private network (dmsnet swarm keygen writes a key file)`,
        [{ key: 'swarm.keyFile', value: '', expected: 'the path of a swarm key file (/key/swarm/psk/1.0.0/), required by swarm.force / LIBP2P_FORCE_PNET' }])
    }
    if (allow.length > 0) {
      // an allow-list with no private network would silently admit everyone: refuse it
      throw new ConfigError('swarm.allow is set but swarm.keyFile is not: the allow-list applies to a static private network only (network.allowPeers restricts the public one)',
        [{ key: 'swarm.allow', value: allow, expected: 'empty unless swarm.keyFile is set' }])
    }
    return undefined
  }
  let psk: Uint8Array
  let mode: number
  try {
    mode = statSync(keyFile).mode & 0o777
    psk = readSwarmKeyFile(keyFile)
  } catch (err) {
    const what = err instanceof InvalidSwarmKeyError ? err.message : `cannot read it: ${(err as Error).message}`
    throw new SwarmKeyFileError(`swarm.keyFile ${keyFile}: ${what}`,
      [{ key: 'swarm.keyFile', value: keyFile, expected: 'a readable swarm key file (/key/swarm/psk/1.0.0/ then /base16/ and 64 hex digits)' }], { cause: err })
  }
  let managed
  try {
    managed = readSwarmState(config.swarm.stateFile)
  } catch {
    managed = undefined // an unreadable managed state cannot put this node in a managed swarm
  }
  if (managed?.joined === true) {
    throw new SwarmModeConflictError(`swarm.keyFile is set but this node is in the managed swarm "${managed.name}" (${config.swarm.stateFile}): leave it first (dmsnet swarm leave) or remove swarm.keyFile`,
      [{ key: 'swarm.keyFile', value: keyFile, expected: 'unset while the node is in a managed swarm' }])
  }
  const fingerprint = keyFingerprint(psk)
  // the factory keeps `psk` and copies it for every host generation: never wipe it here
  const protector = pskProtector({ psk })
  return {
    keyFile,
    fingerprint,
    keyFileMode: mode.toString(8),
    allow: [...allow],
    protector,
    profile: {
      name: `pnet:${fingerprint.slice(0, 8)}`,
      connectionProtector: protector,
      dhtProtocolPrefix: config.network.dht.protocolPrefix,
      bootstrap: [...config.network.bootstrap],
      ...(allow.length > 0 ? { allowPeers: new Set(allow) } : {})
    }
  }
}

/** A superset of the managed `SwarmStatus`, so its readers (CLI, status page) work unchanged. */
export interface StaticSwarmStatus extends SwarmStatus {
  mode: 'static'
  name: string
  joined: true
  keyFile: string
  keyFileMode: string
  fingerprint: string
  allow: string[]
  /** Connections that went through the PSK layer since start. */
  protectedConnections: number
  /** The XSalsa20 code the PSK layer runs on: `avx512` (the addon), `sodium` (libsodium) or `js`. */
  cipher?: XSalsa20Kind
}

export function staticSwarmStatus (s: StaticSwarm, network: Network): StaticSwarmStatus {
  return {
    mode: 'static',
    name: s.profile.name,
    joined: true,
    profile: network.profile.name,
    keyFile: s.keyFile,
    keyFileMode: s.keyFileMode,
    fingerprint: s.fingerprint,
    allow: s.allow,
    // every connected peer holds the key (or it could not have connected)
    connected: network.started ? network.peers() : [],
    protectedConnections: s.protector.stats.protected,
    cipher: s.protector.stats.cipherImpl,
    authorised: s.allow,
    bootstrap: s.profile.bootstrap,
    keyService: [],
    refused: 0,
    invites: 0,
    // no creator: nobody's creator-only messages are expected, so none can come from a wrong sender
    foreignMessages: 0
  }
}

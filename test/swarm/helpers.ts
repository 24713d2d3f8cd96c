/**
 * Swarm test helpers: real libp2p nodes (createNetwork) on loopback TCP. A node binds port 0 and
 * keeps that port across host switches (the Network pins it), so a swarm's bootstrap addresses
 * survive joins and rotations; a restart reuses the port it had. `formSwarm` builds a creator with
 * joined members, so that each group of tests starts from a swarm of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type Config } from '../../src/config/index.js'
import { createNetwork } from '../../src/network/network.js'
import { loadOrCreateIdentity } from '../../src/network/identity.js'
import { createSwarmManager, type SwarmManager, type SwarmManagerInit } from '../../src/swarm/swarm.js'
import type { Network } from '../../src/network/types.js'
import type { Stream } from '@libp2p/interface'

export function swarmTestConfig (dataDir: string, port: number): Config {
  return loadConfig({
    base: {
      dataDir,
      logging: { level: process.env.DMSNET_LOG_LEVEL ?? 'warn' },
      network: {
        listen: [`/ip4/127.0.0.1/tcp/${port}`],
        dht: { mode: 'server', addressFilter: 'all' },
        autonat: { enabled: false },
        dcutr: { enabled: false },
        relay: { client: false },
        mdns: { enabled: false },
        // every node dials from 127.0.0.1: the per-host inbound rate limit would throttle the swarm
        connectionManager: { inboundConnectionThreshold: 1000 }
      }
    }
  })
}

export interface SwarmNode {
  net: Network
  swarm: SwarmManager
  dir: string
  port: number
  config: Config
  id: string
  /** Stops swarm manager and network (keeps the data dir). */
  stop(): Promise<void>
}

export const FAST: Partial<SwarmManagerInit> = { rejoinTimeoutMs: 4000, watchdogIntervalMs: 1500, requestTimeoutMs: 5000, keyServiceListen: ['/ip4/127.0.0.1/tcp/0'] }

/** Starts a node (network + swarm manager); reuse `dir`/`port` to restart one. */
export async function startSwarmNode (opts: { dir?: string, port?: number, init?: Partial<SwarmManagerInit> } = {}): Promise<SwarmNode> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `dmsnet-swarm-${process.pid}-`))
  // port 0 unless restarting: the network keeps the port its first host bound across host
  // switches, so no free port has to be guessed (and raced for) before the node starts
  const config = swarmTestConfig(dir, opts.port ?? 0)
  // the composition reads the key once and hands it to the network and the swarm manager
  const { privateKey } = await loadOrCreateIdentity(config.network.identityFile)
  const net = await createNetwork({ config, privateKey })
  await net.start()
  const port = opts.port ?? boundPort(net)
  const swarm = await createSwarmManager({ network: net, config, privateKey, ...FAST, ...opts.init })
  await swarm.start()
  return {
    net,
    swarm,
    dir,
    port,
    config,
    id: net.peerId.toString(),
    stop: async () => {
      await swarm.stop()
      await net.stop()
    }
  }
}

/** The TCP port a started node listens on (127.0.0.1). */
export function boundPort (net: Network): number {
  const addr = net.host.getMultiaddrs().map(a => a.toString()).find(a => a.startsWith('/ip4/127.0.0.1/tcp/') && !a.includes('/ws'))
  if (addr == null) throw new Error('the node has no TCP listen address')
  return Number(addr.split('/')[4])
}

export function removeDir (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

export { waitFor } from '../helpers/wait.js'

export interface FormedSwarm {
  creator: SwarmNode
  members: SwarmNode[]
  /** nodes started but not in the swarm */
  outsiders: SwarmNode[]
  /** every node the group started (restarted nodes are replaced in place by the tests) */
  all: () => SwarmNode[]
  /** Stops every node and removes their data dirs. */
  stop: () => Promise<void>
}

/** A creator and `members` authorised and joined by address, plus `outsiders` on the public network. */
export async function formSwarm (name: string, members: number, outsiders = 0): Promise<FormedSwarm> {
  const started = await Promise.all(Array.from({ length: 1 + members + outsiders }, async () => await startSwarmNode()))
  const [creator, ...rest] = started as [SwarmNode, ...SwarmNode[]]
  const ms = rest.slice(0, members)
  const os = rest.slice(members)
  const formed: FormedSwarm = {
    creator,
    members: ms,
    outsiders: os,
    all: () => [formed.creator, ...formed.members, ...formed.outsiders],
    stop: async () => {
      const nodes = formed.all()
      await Promise.allSettled(nodes.map(async n => { await n.stop() }))
      for (const n of nodes) removeDir(n.dir)
    }
  }
  try {
    const st = await creator.swarm.create(name, ms.map(m => m.id))
    for (const m of ms) await m.swarm.join(st.keyService[0]!)
  } catch (err) {
    await formed.stop()
    throw err
  }
  return formed
}

/** Bytes read until the stream ends or is reset (a reset is how a refused stream ends). */
export async function bytesUntilEnd (stream: Stream): Promise<number> {
  let n = 0
  try {
    for await (const c of stream) n += c.byteLength
  } catch { /* reset by the remote: counted as ended */ }
  return n
}

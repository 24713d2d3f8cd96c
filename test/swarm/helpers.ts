/**
 * Swarm test helpers: real libp2p nodes (createNetwork) on loopback TCP with fixed free ports
 * (a swarm's bootstrap addresses must survive host switches, as they do with a configured port).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type Config } from '../../src/config/index.js'
import { createNetwork } from '../../src/network/network.js'
import { createSwarmManager, type SwarmManager, type SwarmManagerInit } from '../../src/swarm/swarm.js'
import type { Network } from '../../src/network/types.js'

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => { resolve(port) })
    })
  })
}

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
  const port = opts.port ?? await freePort()
  const config = swarmTestConfig(dir, port)
  const net = await createNetwork({ config })
  await net.start()
  const swarm = await createSwarmManager({ network: net, config, ...FAST, ...opts.init })
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

export function removeDir (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

export { waitFor } from '../helpers/wait.js'

/**
 * A local demo network: N dmsnet nodes in this process on loopback, each with its own temporary
 * data dir (identity, control socket) and the demo's embedded config (LAN profile, mDNS on);
 * node 1 is everyone's bootstrap peer. `stop()` stops every node and removes the directories.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { demoConfig } from '../config/profiles.js'
import { createNode, type DmsnetNode } from '../daemon/node.js'
import { loadOrCreateIdentity } from '../network/identity.js'

/** Prefix of the demo cluster's data dirs in the temp dir: `dmsnet-demo-<pid>-XXXXXX`. */
export const CLUSTER_DIR_PREFIX = 'dmsnet-demo-'

export interface DemoNode {
  name: string
  /** Known before the node starts (the identity is created first), so events can name it. */
  peerId: string
  node: DmsnetNode
  dataDir: string
}

export interface ClusterOptions {
  size: number
  mdns: boolean
  /** Serve /metrics for node 1 on 127.0.0.1 (any free port). */
  metrics: boolean
  logLevel: string
}

export interface Cluster {
  readonly baseDir: string
  readonly nodes: DemoNode[]
  stop (): Promise<void>
}

export interface ClusterHooks {
  /** Before a node starts (its network does not exist yet). */
  starting?: (n: DemoNode) => void
  /** Right after a node started, before the next one: attach event listeners here. */
  started?: (n: DemoNode) => void
}

export async function startCluster (options: ClusterOptions, hooks: ClusterHooks = {}): Promise<Cluster> {
  // the pid in the name lets a later demo (vpn-world.ts sweepLeftovers) or a test remove the dir
  // of a demo that was killed before it could (SIGKILL)
  const baseDir = await mkdtemp(join(tmpdir(), `${CLUSTER_DIR_PREFIX}${process.pid}-`))
  const nodes: DemoNode[] = []
  const cluster: Cluster = {
    baseDir,
    nodes,
    async stop () {
      // reverse order: the bootstrap node goes last, so the others do not redial it meanwhile
      for (const n of [...nodes].reverse()) {
        await n.node.stop().catch(() => {})
      }
      await rm(baseDir, { recursive: true, force: true })
    }
  }
  try {
    let bootstrap: string[] = []
    for (let i = 1; i <= options.size; i++) {
      const name = `n${i}`
      const dataDir = join(baseDir, name)
      const config = demoConfig(dataDir, {
        flags: {
          'network.bootstrap': bootstrap,
          'network.mdns.enabled': options.mdns,
          'network.mdns.intervalMs': 2000,
          'logging.level': options.logLevel,
          'metrics.enabled': options.metrics && i === 1,
          'metrics.port': 0,
          // one status page is enough for the demo: n1's (main.ts prints its login link)
          'ui.enabled': i === 1
        }
      })
      const { peerId } = await loadOrCreateIdentity(config.network.identityFile)
      const node = createNode(config, { name, setProcessLogLevel: false })
      const demoNode = { name, peerId, node, dataDir }
      nodes.push(demoNode)
      hooks.starting?.(demoNode)
      await node.start()
      hooks.started?.(demoNode)
      if (i === 1) {
        bootstrap = node.network.getMultiaddrs().map(String).filter(a => a.includes('/tcp/') && !a.includes('/ws')).slice(0, 1)
      }
    }
  } catch (err) {
    await cluster.stop()
    throw err
  }
  return cluster
}

/**
 * The peers of `bench census-hub` (issue 10): one process holding `count` in-process dmsnet nodes
 * (`createNode`, the daemon's own composition and modules, as `dmsnet up` runs them, minus the
 * control socket and the status page), each with its own key and data dir, all on 127.0.0.1 and
 * bootstrapped from the hub daemons. Many peers for a hub without a process per peer: the machine
 * has two cores, and a high-connection node is what the census looks at, not its peers.
 *
 * Run by census-hub.ts: `node census-peers.js '<json: { count, bootstrap, startGapMs }>'`; prints
 * `{"ready":n}` on stdout once all are started and stops them when its stdin closes.
 * census-gossip.ts adds `topic`: every node subscribes to it (counting what it receives), and a
 * stdin line `{"publish":n,"intervalMs":ms}` makes the first node publish n messages there, one
 * every ms (answered `{"published":n,"received":<all nodes' count so far>}`); any other line is
 * answered `{"received":n}`. The ready line also gives the first node's address (`addr`).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { loadConfig } from '../../src/config/index.js'
import { createNode, type DmsnetNode } from '../../src/daemon/node.js'
import { stdinClosed, writeJsonLine } from './process.js'

interface PeersInit { count: number, bootstrap: string[], startGapMs: number, name: string, topic?: string }
/**
 * gossipsub's IP colocation penalty: all of these nodes share 127.0.0.1, and above 10 peers on one
 * address every one of them is graylisted (its RPCs ignored), which a real network's distinct
 * addresses never see. With a topic, the weight is 0 on every node here.
 */
const noColocationPenalty = (n: DmsnetNode): void => {
  const score = (n.network.host.services.pubsub as unknown as { score?: { params?: { IPColocationFactorWeight?: number } } }).score
  if (score?.params != null) score.params.IPColocationFactorWeight = 0
}
interface MessagingLike {
  subscribe(topic: string, handler: () => void): unknown
  publish(topic: string, type: string, payload: Uint8Array): Promise<unknown>
}
const messagingOf = (n: DmsnetNode): MessagingLike | undefined => (n.module('messaging') as unknown as { messaging?: MessagingLike } | undefined)?.messaging

async function main (): Promise<void> {
  const init = JSON.parse(process.argv[2] ?? '{}') as PeersInit
  const base = await mkdtemp(join(tmpdir(), `dmsnet-census-peers-${init.name}-`))
  const nodes: DmsnetNode[] = []
  let received = 0
  const closed = stdinClosed()
  try {
    for (let i = 0; i < init.count; i++) {
      const config = loadConfig({
        base: {
          dataDir: join(base, `p${i}`),
          logging: { level: 'warn' },
          network: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: init.bootstrap, mdns: { enabled: false } },
          metrics: { enabled: false },
          ui: { enabled: false }
        }
      })
      const node = createNode(config, { name: `${init.name}-${i}`, control: false, setProcessLogLevel: false })
      nodes.push(node)
      await node.start()
      if (init.topic != null) {
        noColocationPenalty(node)
        messagingOf(node)?.subscribe(init.topic, () => { received++ })
      }
      // staggered: a burst of handshakes at the hub is not what is measured
      await new Promise(resolve => setTimeout(resolve, init.startGapMs))
    }
    writeJsonLine({ ready: nodes.length, addr: nodes[0]?.network.host.getMultiaddrs()[0]?.toString() })
    if (init.topic != null) {
      const topic = init.topic
      createInterface({ input: process.stdin }).on('line', (line) => {
        const cmd = JSON.parse(line) as { publish?: number, intervalMs?: number }
        if (cmd.publish == null) { writeJsonLine({ received }); return }
        void (async () => {
          const pub = messagingOf(nodes[0]!)
          let published = 0
          for (let k = 0; k < (cmd.publish ?? 0) && pub != null; k++) {
            await pub.publish(topic, 'census', new TextEncoder().encode(`census-${Date.now()}-${k}`)).then(() => { published++ }, () => {})
            await new Promise(resolve => setTimeout(resolve, cmd.intervalMs ?? 50))
          }
          writeJsonLine({ published, received })
        })()
      })
    }
    await closed
  } finally {
    for (const n of nodes) await n.stop().catch(() => {})
    await rm(base, { recursive: true, force: true })
  }
}

main().then(() => { process.exit(0) }, (err: Error) => {
  process.stderr.write(`census-peers failed: ${err.stack ?? err.message}\n`)
  process.exit(1)
})

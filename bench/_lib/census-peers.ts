/**
 * The peers of `bench census-hub` (issue 10): one process holding `count` in-process dmsnet nodes
 * (`createNode`, the daemon's own composition and modules, as `dmsnet up` runs them, minus the
 * control socket and the status page), each with its own key and data dir, all on 127.0.0.1 and
 * bootstrapped from the hub daemons. Many peers for a hub without a process per peer: the machine
 * has two cores, and a high-connection node is what the census looks at, not its peers.
 *
 * Run by census-hub.ts: `node census-peers.js '<json: { count, bootstrap, startGapMs }>'`; prints
 * `{"ready":n}` on stdout once all are started and stops them when its stdin closes.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/index.js'
import { createNode, type DmsnetNode } from '../../src/daemon/node.js'
import { stdinClosed, writeJsonLine } from './process.js'

interface PeersInit { count: number, bootstrap: string[], startGapMs: number, name: string }

async function main (): Promise<void> {
  const init = JSON.parse(process.argv[2] ?? '{}') as PeersInit
  const base = await mkdtemp(join(tmpdir(), `dmsnet-census-peers-${init.name}-`))
  const nodes: DmsnetNode[] = []
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
      // staggered: a burst of handshakes at the hub is not what is measured
      await new Promise(resolve => setTimeout(resolve, init.startGapMs))
    }
    writeJsonLine({ ready: nodes.length })
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

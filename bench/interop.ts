/**
 * Benchmark: stream throughput between go-libp2p and dmsnet, with the same-run baseline of two
 * go-libp2p peers, on the public network and with a private-network key (go pnet vs dmsnet's PSK
 * protector). Each run streams MB MiB of random bytes one way on one stream and compares SHA-256
 * hashes (a mismatch fails the benchmark). Runs alternate between the directions.
 *
 * The Go peers are separate processes (test/interop/go, built and cached as the interop suite
 * does); the dmsnet node runs in this process.
 *
 * Usage: npm run bench -- interop [--runs 3] [--mb 128]
 * Progress on stderr; the last stdout line is one JSON object (MB/s as min/median/max).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNetwork } from '../src/network/network.js'
import { pskProtector } from '../src/swarm/protector.js'
import { GoPeer } from '../test/interop/go-peer.js'
import { sendBlob, serveTestProtocols } from '../test/interop/protocols.js'
import type { Network } from '../src/network/types.js'
import { loopbackConfig } from './_lib/libp2p.js'
import { numArg as arg, progress, writeJsonLine } from './_lib/process.js'
import { minMedianMax as stats, round } from './_lib/stats.js'

const log = progress('interop')

class HashMismatchError extends Error {
  static override name = 'HashMismatchError'
}

async function dmsnetNode (dir: string, psk?: Uint8Array): Promise<Network> {
  const config = loopbackConfig(dir, { dht: { mode: 'client' } })
  const profile = psk == null ? undefined : { name: 'swarm:bench', dhtProtocolPrefix: '/dmsnet/swarm/bench', bootstrap: [], connectionProtector: pskProtector({ psk }) }
  const net = await createNetwork({ config, ...(profile != null ? { profile } : {}) })
  await net.start()
  await serveTestProtocols(net)
  return net
}

async function main (): Promise<void> {
  const runs = arg('runs', 3)
  const bytes = arg('mb', 128) * 1024 * 1024
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-bench-interop-'))
  const pskHex = randomBytes(32).toString('hex')
  const keyFile = join(dir, 'swarm.key')
  writeFileSync(keyFile, `/key/swarm/psk/1.0.0/\n/base16/\n${pskHex}\n`)
  const goPeers: GoPeer[] = []
  const nets: Network[] = []
  const result: Record<string, Record<string, ReturnType<typeof stats>>> = {}
  try {
    for (const mode of ['plain', 'psk'] as const) {
      const goOpts = mode === 'psk' ? { psk: keyFile } : {}
      const a = await GoPeer.start(goOpts, log)
      const b = await GoPeer.start(goOpts, log)
      goPeers.push(a, b)
      const net = await dmsnetNode(join(dir, mode), mode === 'psk' ? new Uint8Array(Buffer.from(pskHex, 'hex')) : undefined)
      nets.push(net)
      const netId = net.peerId.toString()
      await a.cmd('connect', [net.host.getMultiaddrs()[0]!.toString()])
      await a.cmd('connect', [b.addr])
      const mbps: Record<string, number[]> = { goToDmsnet: [], dmsnetToGo: [], goToGo: [] }
      for (let r = 0; r < runs; r++) {
        const [l1, r1, ms1] = await a.cmd('blob', [netId, bytes], 600_000)
        if (l1 !== r1) throw new HashMismatchError(`${mode} go->dmsnet: hashes differ`)
        mbps.goToDmsnet!.push(bytes / 1e6 / (Number(ms1) / 1000))
        const back = await sendBlob(net, a.id, bytes)
        if (back.local !== back.remote) throw new HashMismatchError(`${mode} dmsnet->go: hashes differ`)
        mbps.dmsnetToGo!.push(bytes / 1e6 / (back.ms / 1000))
        const [l3, r3, ms3] = await a.cmd('blob', [b.id, bytes], 600_000)
        if (l3 !== r3) throw new HashMismatchError(`${mode} go->go: hashes differ`)
        mbps.goToGo!.push(bytes / 1e6 / (Number(ms3) / 1000))
        log(`${mode} run ${r + 1}/${runs}: go->dmsnet ${round(mbps.goToDmsnet!.at(-1)!)} MB/s, dmsnet->go ${round(mbps.dmsnetToGo!.at(-1)!)} MB/s, go->go ${round(mbps.goToGo!.at(-1)!)} MB/s`)
      }
      result[mode] = Object.fromEntries(Object.entries(mbps).map(([k, v]) => {
        const s = stats(v)
        return [k, { min: round(s.min), median: round(s.median), max: round(s.max) }]
      }))
    }
  } finally {
    for (const g of goPeers) await g.stop()
    for (const n of nets) await n.stop().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
  writeJsonLine({ bench: 'interop', unit: 'MB/s', mb: bytes / 1024 / 1024, runs, ...result })
}

main().catch((err: Error) => {
  process.stderr.write(`[interop] failed: ${err.name}: ${err.message}\n`)
  process.exit(1)
})

/**
 * libp2p pieces shared by the benchmarks: a quiet loopback node configuration, an echo handler,
 * and small-message round trips on a bare stream (the floor the dmsnet layers are compared with).
 */
import type { Stream } from '@libp2p/interface'
import { loadConfig, type Config } from '../../src/config/index.js'
import type { Network } from '../../src/network/types.js'
import { drained } from '../../src/network/stream-drain.js'

/**
 * A node on 127.0.0.1 (`port` 0 = any) with the NAT helpers, relay client and mDNS off and
 * warn-level logs; `network` adds to or overrides the network section.
 */
export function loopbackConfig (dataDir: string, network: Record<string, unknown> = {}, port = 0): Config {
  return loadConfig({
    base: {
      dataDir,
      logging: { level: 'warn' },
      network: {
        listen: [`/ip4/127.0.0.1/tcp/${port}`],
        dht: { mode: 'client' },
        autonat: { enabled: false },
        dcutr: { enabled: false },
        relay: { client: false },
        mdns: { enabled: false },
        ...network
      }
    }
  })
}

/** Sends back everything it reads (honouring backpressure), then closes. */
export async function echoHandler (stream: Stream): Promise<void> {
  for await (const chunk of stream) {
    if (!stream.send(chunk)) await drained(stream)
  }
  await stream.close().catch(() => {})
}

/** `n` round trips of `size`-byte messages, one at a time, on one stream to `protocol` (an echo); microseconds each. */
export async function echoRtt (net: Network, addr: string, protocol: string, size: number, n: number): Promise<number[]> {
  const stream = await net.dialProtocol(addr, protocol)
  const msg = new Uint8Array(size).fill(1)
  const out: number[] = []
  let pending: (() => void) | undefined
  let received = 0
  stream.addEventListener('message', (evt) => {
    received += evt.data.byteLength
    if (received >= size) { received -= size; pending?.() }
  })
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await new Promise<void>(resolve => { pending = resolve; stream.send(msg) })
    out.push(Number(process.hrtime.bigint() - t0) / 1e3)
  }
  await stream.close().catch(() => {})
  return out
}

/**
 * Test helpers: throw-away nodes on loopback with their own temp data dir, and an echo protocol
 * to prove a stream really carries data.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type Config } from '../../src/config/index.js'
import { createNetwork, type CreateNetworkOptions } from '../../src/network/network.js'
import type { Network } from '../../src/network/types.js'
import { bound } from '../helpers/wait.js'
import type { Stream } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { drained } from '../../src/network/stream-drain.js'

/** Temp dirs made by this test process and not cleaned up yet: removed when it exits. */
const liveTempDirs = new Set<string>()
process.once('exit', () => {
  // a test that failed (or forgot) before its cleanup still leaves nothing behind in /tmp
  for (const d of liveTempDirs) rmSync(d, { recursive: true, force: true })
})

export function tempDir (prefix = 'dmsnet-net-'): { dir: string, cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  liveTempDirs.add(dir)
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true })
      liveTempDirs.delete(dir)
    }
  }
}

/** Config for a loopback test node: TCP on 127.0.0.1 (random port), DHT server, no NAT helpers. */
export function testConfig (dataDir: string, flags: Record<string, unknown> = {}): Config {
  return loadConfig({
    base: {
      dataDir,
      logging: { level: process.env.DMSNET_LOG_LEVEL ?? 'warn' },
      network: {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        dht: { mode: 'server', addressFilter: 'all' },
        autonat: { enabled: false },
        dcutr: { enabled: false },
        relay: { client: false },
        mdns: { enabled: false }
      }
    },
    flags
  })
}

export interface TestNode { net: Network, dir: string, config: Config, stop(): Promise<void> }

export async function startNode (flags: Record<string, unknown> = {}, extra: Partial<CreateNetworkOptions> = {}, dir?: string): Promise<TestNode> {
  const tmp = dir == null ? tempDir() : undefined
  const dataDir = dir ?? tmp!.dir
  let config: Config
  let net: Network
  try {
    config = testConfig(dataDir, flags)
    net = await createNetwork({ config, ...extra })
    await net.start()
  } catch (err) {
    tmp?.cleanup()
    throw err
  }
  return {
    net,
    dir: dataDir,
    config,
    stop: async () => {
      await net.stop()
      tmp?.cleanup()
    }
  }
}

/** Resolves with the first event `name` on `net` whose detail passes `pred`, or rejects after `ms`. */
export function nextEvent<T> (net: Network, name: Parameters<Network['eventRegister']>[0], pred: (d: T) => boolean = () => true, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${name} event within ${bound(ms)} ms`)) }, bound(ms))
    const off = net.eventRegister(name, (d) => {
      if (pred(d as T)) {
        clearTimeout(timer)
        off()
        resolve(d as T)
      }
    })
  })
}

export { waitFor } from '../helpers/wait.js'

/** A protocol id for the echo handler below. */
export const ECHO = '/dmsnet-test/echo/1'

/** Stream handler that sends back everything it reads (honouring backpressure), then closes. */
export async function echo (stream: Stream): Promise<void> {
  for await (const chunk of stream) {
    if (!stream.send(chunk)) await drained(stream)
  }
  await stream.close()
}

/** Sends `text` on an echo stream, half-closes, and returns everything that came back. */
export async function roundTrip (stream: Stream, text: string): Promise<string> {
  stream.send(new TextEncoder().encode(text))
  await stream.close()
  let out = ''
  for await (const chunk of stream) out += new TextDecoder().decode(chunk.subarray())
  return out
}

/**
 * Sends `data` in `chunk`-byte writes (no wait for drains, so the writer's messages are as large as
 * the stream makes them), half-closes, and returns what came back.
 */
export async function echoBytes (stream: Stream, data: Uint8Array, chunk: number): Promise<Uint8Array> {
  const back: Uint8Array[] = []
  const reading = (async () => { for await (const c of stream) back.push(c.subarray()) })()
  for (let off = 0; off < data.byteLength; off += chunk) stream.send(data.subarray(off, off + chunk))
  await stream.close({ signal: AbortSignal.timeout(10_000) })
  await reading
  return Buffer.concat(back)
}

/** A stock js-libp2p node (TCP, Noise, yamux; none of dmsnet's wrappers) on loopback, answering ECHO. */
export async function startStockPeer (): Promise<Libp2p> {
  const plain = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  await plain.handle(ECHO, echo)
  return plain
}

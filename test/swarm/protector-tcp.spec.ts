/**
 * The PSK protector on real TCP connections, where it decrypts each socket read in place (no
 * copy): random data of random write sizes echoes back intact through two dmsnet nodes, with each
 * cipher (AVX-512 addon, libsodium, JavaScript) on both ends and every mixed pair (so each end's
 * keystream is checked against the others' on the wire; AVX-512 ends get a keystream ring for the
 * addon's generator thread); a node on another key does not get through.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { describe, it } from 'node:test'
import { createNetwork } from '../../src/network/network.js'
import { availableXSalsa20, pskProtector, type PskProtectorFactory, type XSalsa20Impl } from '../../src/swarm/protector.js'
import { ECHO, echo, tempDir, testConfig, type TestNode } from '../network/helpers.js'
import type { Stream } from '@libp2p/interface'
import { drained } from '../../src/network/stream-drain.js'
import { loadSimd } from '../../src/swarm/xsalsa20-simd.js'

async function pskNode (psk: Uint8Array, cipher: XSalsa20Impl): Promise<{ node: TestNode, protector: PskProtectorFactory }> {
  const protector = pskProtector({ psk, cipher })
  const tmp = tempDir('dmsnet-psk-tcp-')
  const config = testConfig(tmp.dir)
  const net = await createNetwork({ config, profile: { name: 'swarm:tcp-test', connectionProtector: protector, dhtProtocolPrefix: '/dmsnet/swarm/tcp-test', bootstrap: [] } })
  await net.start()
  await net.handle(ECHO, echo)
  return { node: { net, dir: tmp.dir, config, stop: async () => { await net.stop(); tmp.cleanup() } }, protector }
}

/** Writes `data` in random-size pieces (1 B to 200 KiB) on an echo stream; returns what came back. */
async function echoRandomWrites (stream: Stream, data: Uint8Array): Promise<Buffer> {
  const back: Uint8Array[] = []
  const reading = (async () => { for await (const c of stream) back.push(c.subarray()) })()
  for (let off = 0; off < data.byteLength;) {
    const n = Math.min(data.byteLength - off, randomInt(1, 200 * 1024))
    if (!stream.send(data.subarray(off, off + n))) await drained(stream, { signal: AbortSignal.timeout(10_000) })
    off += n
  }
  await stream.close({ signal: AbortSignal.timeout(10_000) })
  await reading
  return Buffer.concat(back)
}

const PAIRS: Array<[XSalsa20Impl, XSalsa20Impl]> = [['avx512', 'avx512'], ['sodium', 'sodium'], ['js', 'js'], ['avx512', 'sodium'], ['avx512', 'js'], ['sodium', 'js']]
const have = availableXSalsa20() as XSalsa20Impl[]

describe('PSK protector over TCP (in-place decryption)', () => {
  for (const [ca, cb] of PAIRS) {
    // the AVX-512 cipher needs a CPU with AVX-512F: elsewhere its pairs are skipped, and say so
    const missing = [ca, cb].find(c => !have.includes(c))
    it(`${ca} <-> ${cb}: 6 MiB of random writes echo back intact, both ends decrypt in place`, { skip: missing != null && `no ${missing} cipher on this machine` }, async () => {
      const psk = new Uint8Array(randomBytes(32))
      const a = await pskNode(psk, ca)
      const b = await pskNode(psk, cb)
      try {
        const data = new Uint8Array(randomBytes(6 * 1024 * 1024))
        const stream = await a.node.net.dialProtocol(b.node.net.host.getMultiaddrs()[0]!, ECHO, { signal: AbortSignal.timeout(10_000) })
        const back = await echoRandomWrites(stream, data)
        assert.equal(back.byteLength, data.byteLength)
        assert.equal(Buffer.compare(back, data), 0, 'every byte came back in order')
        assert.ok(a.protector.stats.inPlace >= 1 && b.protector.stats.inPlace >= 1, 'both ends took the in-place path')
        assert.deepEqual([a.protector.stats.cipherImpl, b.protector.stats.cipherImpl], [ca, cb])
      } finally {
        await Promise.all([a.node.stop(), b.node.stop()])
      }
      // 6 MiB each way in up to 64 KiB pieces: every AVX-512 end had a keystream ring (closed
      // connections count its batches: from the ring, or inline while the idle-priority generator
      // had no core), and the rings are handed back with their connections
      const ahead = [a, b].filter((_, i) => [ca, cb][i] === 'avx512').map(n => n.protector.stats.aheadBatches + n.protector.stats.aheadStalls)
      assert.ok(ahead.every(n => n > 0), `keystream batches of a ring per AVX-512 end: ${ahead.join(', ')}`)
      assert.equal(loadSimd()?.xsalsa20RingsLive() ?? 0, 0, 'no ring outlives its connection')
    })
  }

  it('a node on another key does not get through (same nodes, right key: it does)', async () => {
    const psk = new Uint8Array(randomBytes(32))
    const a = await pskNode(psk, 'native')
    const good = await pskNode(psk, 'native')
    const wrong = await pskNode(new Uint8Array(randomBytes(32)), 'native')
    try {
      const ok = await a.node.net.dialProtocol(good.node.net.host.getMultiaddrs()[0]!, ECHO, { signal: AbortSignal.timeout(10_000) })
      const data = new Uint8Array(randomBytes(1000))
      assert.equal(Buffer.compare(await echoRandomWrites(ok, data), data), 0, 'positive control: same key')
      // the handshake under the wrong key is garbage to the other end, which drops the connection
      await assert.rejects(a.node.net.dialProtocol(wrong.node.net.host.getMultiaddrs()[0]!, ECHO, { signal: AbortSignal.timeout(10_000) }), { name: 'DialError' })
    } finally {
      await Promise.all([a.node.stop(), good.node.stop(), wrong.node.stop()])
    }
  })
})

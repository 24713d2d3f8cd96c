/**
 * Private network: a dmsnet node with our PSK protector (src/swarm/protector.ts) on a Kubo-format
 * swarm.key and the Go peer (go-libp2p pnet) on the same file connect and stream 64 MiB intact
 * each way, both dial directions; the recorded connection, decrypted with the key, carries the
 * libp2p handshake and nothing of it in the clear. With another key, or none, they do not connect.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { publicProfile } from '../../src/network/host.js'
import { pskProtector, readSwarmKeyFile, type PskProtectorFactory } from '../../src/swarm/index.js'
import { createNetwork } from '../../src/network/network.js'
import { tempDir, testConfig, waitFor, type TestNode } from '../network/helpers.js'
import { GoPeer, GoPeerCommandError } from './go-peer.js'
import { sendBlob, serveTestProtocols } from './protocols.js'
import { startRecorder, type Recorder } from './recorder.js'

const SIZE = 64 * 1024 * 1024
const MULTISTREAM = Buffer.from('/multistream/1.0.0\n')
const NOISE = Buffer.from('/noise')

/** Kubo's swarm.key format, as `ipfs-swarm-key-gen` writes it. */
function kuboKeyFile (dir: string, name: string): string {
  const path = join(dir, name)
  writeFileSync(path, `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}\n`)
  return path
}

async function startPrivateNode (keyFile: string): Promise<{ node: TestNode, protector: PskProtectorFactory }> {
  const protector = pskProtector({ psk: readSwarmKeyFile(keyFile) })
  const tmp = tempDir('dmsnet-interop-pnet-node-')
  const config = testConfig(tmp.dir)
  const net = await createNetwork({ config, profile: { ...publicProfile(config.network), name: 'swarm:interop', connectionProtector: protector } })
  await net.start()
  return { node: { net, dir: tmp.dir, config, stop: async () => { await net.stop(); tmp.cleanup() } }, protector }
}

/** Checks one direction of a recorded PSK connection; returns the decrypted bytes. */
function checkDirection (chunks: Buffer[], psk: Uint8Array, what: string): Buffer {
  const wire = Buffer.concat(chunks)
  assert.ok(wire.byteLength > 24, `${what}: recorded ${wire.byteLength} bytes`)
  const nonce = wire.subarray(0, 24)
  const plain = Buffer.from(xsalsa20(psk, nonce, wire.subarray(24)))
  // the layer under the PSK is plain libp2p: multistream-select offering Noise
  assert.ok(plain.subarray(0, 64).includes(MULTISTREAM), `${what}: decrypted stream starts with multistream-select`)
  assert.ok(plain.subarray(0, 256).includes(NOISE), `${what}: decrypted stream negotiates Noise`)
  // ... and none of it is visible on the wire
  assert.ok(!wire.includes(MULTISTREAM), `${what}: multistream header in the clear`)
  assert.ok(!wire.includes(NOISE), `${what}: protocol names in the clear`)
  return plain
}

describe('interop private network (Kubo swarm.key, go-libp2p pnet <-> dmsnet PSK protector)', () => {
  let dir: string
  let keyFile: string
  let psk: Uint8Array
  let node: TestNode
  let protector: PskProtectorFactory
  let received: Array<{ bytes: number, hash: string }>
  const goPeers: GoPeer[] = []

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dmsnet-interop-pnet-'))
    keyFile = kuboKeyFile(dir, 'swarm.key')
    psk = readSwarmKeyFile(keyFile)
    ;({ node, protector } = await startPrivateNode(keyFile))
    received = await serveTestProtocols(node.net)
  })

  after(async () => {
    for (const g of goPeers) await g.stop()
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  for (const direction of ['go dials dmsnet', 'dmsnet dials go'] as const) {
    test(`${direction}: same key connects, 64 MiB each way intact, the recording is PSK ciphertext only`, async () => {
      const go = await GoPeer.start({ psk: keyFile })
      goPeers.push(go)
      const dmsnetPort = Number(node.net.host.getMultiaddrs()[0]!.toString().split('/')[4])
      let recorder: Recorder | undefined
      try {
        if (direction === 'go dials dmsnet') {
          recorder = await startRecorder(dmsnetPort)
          await go.cmd('connect', [`/ip4/127.0.0.1/tcp/${recorder.port}/p2p/${node.net.peerId.toString()}`])
        } else {
          recorder = await startRecorder(Number(go.addr.split('/')[4]))
          await node.net.dial(`/ip4/127.0.0.1/tcp/${recorder.port}/p2p/${go.id}`)
        }
        // the Go side registers the connection a moment after our dial returns
        await waitFor(async () => (await go.cmd('peers')).includes(node.net.peerId.toString()), 10_000, 'go sees the connection')
        const n = received.length
        const [local, remote] = await go.cmd('blob', [node.net.peerId.toString(), SIZE], 300_000)
        assert.equal(remote, local)
        await waitFor(() => received.length > n, 10_000, 'blob received')
        assert.deepEqual(received.at(-1), { bytes: SIZE, hash: local })
        const back = await sendBlob(node.net, go.id, SIZE)
        assert.equal(back.remote, back.local)

        assert.equal(recorder.recordings.length, 1, 'one connection, through the recorder')
        const rec = recorder.recordings[0]!
        const up = checkDirection(rec.up, psk, 'dialer -> listener')
        const down = checkDirection(rec.down, psk, 'listener -> dialer')
        // both blobs crossed this connection
        assert.ok(up.byteLength > SIZE && down.byteLength > SIZE)
      } finally {
        await go.cmd('hangup', [node.net.peerId.toString()]).catch(() => {})
        await recorder?.close()
      }
    })
  }

  test('another key or no key: no connection, either direction (same-key peer as control)', async () => {
    const other = await GoPeer.start({ psk: kuboKeyFile(dir, 'other.key') })
    const none = await GoPeer.start()
    const same = await GoPeer.start({ psk: keyFile })
    goPeers.push(other, none, same)
    const dmsnetAddr = node.net.host.getMultiaddrs()[0]!.toString()
    // positive control: the same key still connects
    await same.cmd('connect', [dmsnetAddr])
    assert.deepEqual(await same.cmd('peers'), [node.net.peerId.toString()])

    for (const g of [other, none]) {
      await assert.rejects(g.cmd('connect', [dmsnetAddr]), (err: Error) => {
        assert.ok(err instanceof GoPeerCommandError, String(err))
        // the PSK garbles multistream-select, so the security handshake cannot even be negotiated
        assert.match(err.message, /failed to negotiate security protocol/, err.message)
        return true
      })
      await assert.rejects(node.net.dial(g.addr, { signal: AbortSignal.timeout(15_000) }), (err: Error) => {
        const cause = (err as { cause?: Error }).cause
        assert.equal(err.name, 'DialError', `${err.name}: ${err.message}`)
        assert.equal(cause?.name, 'EncryptionFailedError', `${cause?.name}: ${cause?.message}`)
        return true
      })
      assert.deepEqual(await g.cmd('peers'), [])
    }
    assert.ok(!node.net.isConnected(other.id) && !node.net.isConnected(none.id))
    assert.ok(protector.stats.protected > 0)
  })
})

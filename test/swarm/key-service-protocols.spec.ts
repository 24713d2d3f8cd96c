/**
 * docs/swarm.md "Where the creator is reachable": the creator's key service, open to anyone
 * without the swarm key, speaks only the key protocol. A real peer over loopback TCP tries the
 * protocols a libp2p host usually offers (ping, identify, the DHT, gossipsub, direct messages):
 * each is refused by protocol negotiation, while the key protocol opens (the positive control).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { startKeyService } from '../../src/swarm/key-service.js'
import { SWARM_KEY_PROTOCOL } from '../../src/swarm/wire.js'
import { startNode } from '../network/helpers.js'

const OTHERS = ['/ipfs/ping/1.0.0', '/ipfs/id/1.0.0', '/ipfs/id/push/1.0.0', '/dmsnet/kad/1.0.0', '/meshsub/1.1.0', '/dmsnet/msg/2.0.0', '/dmsnet/vpn/ctl/1.0.0']

test('the key service answers the key protocol and refuses every other protocol', { timeout: 60_000 }, async (t) => {
  let opened = 0
  const ks = await startKeyService({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], handler: (stream) => { opened++; void stream.close() } })
  t.after(async () => { await ks.stop() })
  const peer = await startNode()
  t.after(async () => { await peer.stop() })
  const s = await peer.net.dialProtocol(ks.addrs[0]!, SWARM_KEY_PROTOCOL, { signal: AbortSignal.timeout(8000) })
  assert.equal(s.protocol, SWARM_KEY_PROTOCOL)
  for (const p of OTHERS) {
    await assert.rejects(async () => {
      const s = await peer.net.dialProtocol(ks.addrs[0]!, p, { signal: AbortSignal.timeout(8000) })
      // the DHT's streams are selected lazily (src/network/lazy-select.ts): the refusal comes with the first read
      for await (const _ of s) { /* nothing is expected */ }
    }, (err: Error & { cause?: Error }) => err.name === 'UnsupportedProtocolError' || (err.name === 'DialError' && err.cause?.name === 'UnsupportedProtocolError'), `${p} refused`)
  }
  assert.equal(opened, 1, 'only the key protocol reached a handler')
})

// The authority's `start(peers)` run again with the same peers and names (an operator repeating
// `dmsnet vpn up`): names and addresses stay, the version moves on, nothing is refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startNode } from '../network/helpers.js'
import { createVpn } from '../../src/vpn/vpn.js'
import type { TunFactory } from '../../src/vpn/types.js'

const nullTun: TunFactory = async (options) => ({
  name: options.name,
  vnetHdr: false,
  start () {},
  write () {},
  async close () {}
})

test('start(peers) twice with the same named peers keeps names and addresses', { timeout: 60_000 }, async (t) => {
  const a = await startNode()
  const b = await startNode()
  t.after(async () => { await a.stop(); await b.stop() })
  const vpn = await createVpn({ network: a.net, config: { dataDir: a.dir, dnsPort: 0 }, tun: nullTun, name: 'alpha', offload: false })
  t.after(async () => { await vpn.stop() })
  const peers = [{ peerId: b.net.peerId.toString(), name: 'beta' }]
  const first = await vpn.start(peers)
  const again = await vpn.start(peers)
  assert.equal(again.version, first.version + 1)
  const names = (s: typeof first): string[] => s.peers.map(p => `${p.name}=${p.ipv4}`).sort()
  assert.deepEqual(names(again), names(first))
  assert.deepEqual(again.peers.map(p => p.name).sort(), ['alpha', 'beta'])
})

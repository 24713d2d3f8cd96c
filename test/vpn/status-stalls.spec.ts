// The tunnel stream's send stalls reach the operator: a PeerLink whose in-memory stream refused
// more counts `sendStalls` / `sendStalledMs`, `vpn.status` (src/vpn/status.ts) carries them in the
// member's entry, the control API's result schema keeps them (it used to strip them), and
// `dmsnet vpn status` prints them in the member's row.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import { PeerLink } from '../../src/vpn/link.js'
import { buildStatus } from '../../src/vpn/status.js'
import { buildBatch } from '../../src/netdev/records.js'
import { status as statusMethod } from '../../src/control/catalogue/vpn.js'
import { formatStatus } from '../../src/cli/commands/vpn/handler.js'
import { waitFor } from '../helpers/wait.js'
import type { VpnMembership } from '../../src/vpn/membership.js'

test('vpn.status shows a member link\'s send stalls, through the control API schema and in the CLI\'s table', async () => {
  let got = 0
  const mk = (onRecords: () => void): PeerLink => new PeerLink({ peerId: 'peer-b', maxQueueBytes: 64 << 20, minPayload: 20, onRecords, onStreamClosed: () => {} })
  const tx = mk(() => {})
  const rx = mk(() => { got++ })
  const [out, inb] = await streamPair()
  rx.attach(inb, false)
  tx.attach(out, false)
  // 64 records of 16 KiB at once: more than the stream buffers before it asks for a drain
  for (let i = 0; i < 64; i++) tx.send(buildBatch([new Uint8Array(16 * 1024).fill(i)]), 1)
  await waitFor(() => got >= 64, 15_000, '64 records delivered')
  const stalls = tx.stats.sendStalls ?? 0
  assert.ok(stalls >= 1, `the stream refused more at least once (stalls ${stalls})`)

  const membership: VpnMembership = {
    networkId: 'n1',
    authority: 'peer-a',
    version: 2,
    cidr: '10.9.0.0/24',
    ipv6Prefix: 'fd00:9::/64',
    domain: 'vpn',
    mtu: 1420,
    members: [
      { peerId: 'peer-a', name: 'a', ipv4: '10.9.0.1', ipv6: 'fd00:9::1', routes: [], addrs: [] },
      { peerId: 'peer-b', name: 'b', ipv4: '10.9.0.2', ipv6: 'fd00:9::2', routes: [], addrs: [] }
    ]
  }
  const s = buildStatus({
    selfPeerId: 'peer-a',
    running: true,
    applied: membership,
    links: new Map([['peer-b', tx]]),
    dropNoRoute: 0,
    dropNotMember: 0,
    policy: { refused: 0, invitationsRefused: 0, switches: 0, routesStripped: 0, refusedRepeats: 0 },
    jobs: [],
    portMappings: []
  })
  const parsed = statusMethod.result.parse(s)
  const b = parsed.peers.find(p => p.peerId === 'peer-b')
  assert.equal(b?.sendStalls, stalls, 'the schema keeps sendStalls')
  assert.equal(b?.sendStalledMs, tx.stats.sendStalledMs, 'and sendStalledMs')
  const self = parsed.peers.find(p => p.peerId === 'peer-a')
  assert.equal(self?.sendStalls, 0, 'a member without a link shows zero')

  const text = formatStatus(parsed)
  assert.match(text, /SEND STALLS$/m, 'the table has the column')
  const row = text.split('\n').find(l => l.startsWith('b '))
  assert.ok(row?.endsWith(` ${stalls} (${tx.stats.sendStalledMs} ms)`), `the member's row ends with its stalls: ${row}`)
})

/**
 * `dmsnet vpn status` as text: the TUN device's line shows traffic and names every trouble counter
 * that is not zero (drops, refused congctl, link restores), so an operator sees them without --json.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatStatus, formatTun } from '../../src/cli/commands/vpn/handler.js'
import type { VpnStatus } from '../../src/vpn/types.js'

test('the tun line: traffic, then only the non-zero trouble counters', () => {
  const quiet = formatTun({ rxPackets: 3, rxBytes: 252, txPackets: 4, txBytes: 2048, txDrops: 0, congctlRoutes: 2, congctlRefused: 0 })
  assert.equal(quiet, 'tun:       rx 252 B/3p, tx 2.0 KiB/4p; congctl on 2 routes; no errors or drops')
  const troubled = formatTun({ rxPackets: 1, rxBytes: 84, txPackets: 0, txBytes: 0, txDrops: 7, congctlRefused: 3, linkRestores: 1, linkRestoreFailures: 1 }, 12)
  assert.equal(troubled, 'tun:       rx 84 B/1p, tx 0 B/0p; acks thinned 12; txDrops 7; congctlRefused 3; linkRestores 1; linkRestoreFailures 1')
})

test('formatStatus prints the tun line when the device reports counters, and none without', () => {
  const base: VpnStatus = {
    state: 'running', isAuthority: true, version: 1, interface: 'dmsnet0', mtu: 1400, cidr: '10.9.0.0/24', ipv4: '10.9.0.1', peers: [],
    dropNoRoute: 0, dropNotMember: 0, policy: { refused: 0, invitationsRefused: 0, switches: 0, routesStripped: 0, refusedRepeats: 0 }, jobs: [], portMappings: []
  }
  assert.doesNotMatch(formatStatus(base), /^tun:/m)
  assert.match(formatStatus({ ...base, tun: { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 2 } }), /^tun: +rx 0 B\/0p, tx 0 B\/0p; rxErrors 2$/m)
})

test('formatStatus names the members a membership has not reached yet, and why this node could not apply one', () => {
  const base: VpnStatus = {
    state: 'running', isAuthority: true, version: 4, peers: [], dropNoRoute: 0, dropNotMember: 0,
    policy: { refused: 0, invitationsRefused: 0, switches: 0, routesStripped: 0, refusedRepeats: 0 }, jobs: [], portMappings: []
  }
  assert.doesNotMatch(formatStatus({ ...base, pushes: { pending: [], retries: 0, recovered: 0 } }), /^pushes:/m, 'nothing to say')
  assert.match(formatStatus({ ...base, pushes: { pending: ['12D3KooWAAAAbbbbCCCC'], retries: 3, recovered: 1 } }),
    /^pushes: +1 member\(s\) not yet on version 4 \(bbbbCCCC\); pushed again 3, taken after a retry 1$/m)
  const member = { peerId: '12D3KooWDDDDeeeeFFFF', name: 'gpu-07', ipv4: '10.9.0.7', ipv6: '', routes: [], self: false, path: 'none' as const, queuedBytes: 0 }
  const named = formatStatus({ ...base, peers: [member as unknown as VpnStatus['peers'][number]], pushes: { pending: ['12D3KooWDDDDeeeeFFFF', '12D3KooWAAAAbbbbCCCC'], retries: 1, recovered: 0 } })
  assert.match(named, /^pushes: +2 member\(s\) not yet on version 4 \(gpu-07 eeeeFFFF, bbbbCCCC\); pushed again 1, taken after a retry 0$/m,
    'a member the table names is named, one it does not is shown by its ID alone')
  assert.match(formatStatus({ ...base, state: 'stopped', isAuthority: false, applyError: 'CommandFailedError: ip link set ... failed' }),
    /^apply: +could not apply version 4: CommandFailedError: ip link set \.\.\. failed \(tried again at the next push or refresh\)$/m)
})

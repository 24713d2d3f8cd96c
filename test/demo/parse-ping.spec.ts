/**
 * The demo's reading of iputils `ping` output (pure logic, real outputs as fixtures).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parsePing } from '../../src/demo/steps/vpn.js'

test('parsePing: replies, rtt summary', () => {
  const out = `PING 100.94.146.13 (100.94.146.13) 56(84) bytes of data.
64 bytes from 100.94.146.13: icmp_seq=1 ttl=64 time=28.1 ms
64 bytes from 100.94.146.13: icmp_seq=2 ttl=64 time=82.1 ms
64 bytes from 100.94.146.13: icmp_seq=3 ttl=64 time=66.0 ms

--- 100.94.146.13 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 404ms
rtt min/avg/max/mdev = 28.066/58.791/82.112/22.686 ms
`
  assert.deepEqual(parsePing(out), { sent: 3, received: 3, rtt: { min: 28.066, avg: 58.791, max: 82.112 } })
})

test('parsePing: no replies, errors, or no output at all', () => {
  const lost = `PING 100.64.0.9 (100.64.0.9) 56(84) bytes of data.
From 100.70.26.168 icmp_seq=1 Destination Host Unreachable

--- 100.64.0.9 ping statistics ---
3 packets transmitted, 0 received, +1 errors, 100% packet loss, time 2043ms
`
  assert.deepEqual(parsePing(lost), { sent: 3, received: 0, rtt: undefined })
  assert.deepEqual(parsePing(''), { sent: 0, received: 0, rtt: undefined })
  assert.deepEqual(parsePing('ping: connect: Network is unreachable\n'), { sent: 0, received: 0, rtt: undefined })
})

/**
 * The before/after switches of stops 25, 27 and 30 take only their documented values: a typo is refused with
 * InvalidArgumentError instead of silently measuring the default.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { tunBatchBytes } from '../../src/vpn/tun-device.js'
import { lpDecoderGuardWanted } from '../../src/network/lp-decoder.js'
import { noiseNativeWanted } from '../../src/network/noise-cipher.js'
import { ackThinWanted } from '../../src/vpn/ack-thin.js'
import { udpRoomAloneWanted } from '../../src/netdev/tun.js'

test('DMSNET_VPN_TUN_BATCH_BYTES: default, a valid size, and typos refused', () => {
  assert.equal(tunBatchBytes(undefined), 1024 * 1024)
  assert.equal(tunBatchBytes('262144'), 262144)
  for (const bad of ['256k', '100', '1e9', 'x']) assert.throws(() => tunBatchBytes(bad), { name: 'InvalidArgumentError' }, bad)
})

test('DMSNET_LP_DECODER_GUARD: on by default, off by 0/off/false, typos refused', () => {
  assert.equal(lpDecoderGuardWanted(undefined), true)
  assert.equal(lpDecoderGuardWanted('on'), true)
  for (const off of ['0', 'off', 'false']) assert.equal(lpDecoderGuardWanted(off), false)
  assert.throws(() => lpDecoderGuardWanted('of'), { name: 'InvalidArgumentError' })
})

test('DMSNET_NOISE_NATIVE and DMSNET_VPN_ACK_THIN: on by default, off by 0/off/false, typos refused', () => {
  for (const wanted of [noiseNativeWanted, ackThinWanted]) {
    assert.equal(wanted(undefined), true)
    assert.equal(wanted('1'), true)
    for (const off of ['0', 'off', 'false']) assert.equal(wanted(off), false)
    assert.throws(() => wanted('no'), { name: 'InvalidArgumentError' })
  }
})

test('DMSNET_TUN_UDP_ROOM_ALONE: on by default and with 1, off with 0, typos refused', () => {
  assert.equal(udpRoomAloneWanted(undefined), true)
  assert.equal(udpRoomAloneWanted('1'), true)
  assert.equal(udpRoomAloneWanted('0'), false)
  for (const bad of ['off', 'no', '2', 'x']) assert.throws(() => udpRoomAloneWanted(bad), { name: 'InvalidArgumentError' }, bad)
})

/**
 * protocolStandIns (src/daemon/features/lazy.ts), as logic over a recording network: a stream that
 * arrives before the feature is loaded loads it once and reaches the feature's own handler; the
 * feature's handle() of a stood-in protocol replaces the target without registering twice, unless
 * its options differ (then the protocol is registered again with the feature's); unhandle() and a
 * later handle() (a VPN stopped and started again) register it for real.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Connection, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { Network } from '../../src/network/types.js'
import { protocolStandIns } from '../../src/daemon/features/lazy.js'

function recordingNetwork (): { net: Network, log: string[], handlers: Map<string, StreamHandler> } {
  const log: string[] = []
  const handlers = new Map<string, StreamHandler>()
  const net = {
    peerId: 'self',
    async handle (p: string, h: StreamHandler, o?: StreamHandlerOptions) { log.push(`handle ${p} ${JSON.stringify(o ?? {})}`); handlers.set(p, h) },
    async unhandle (p: string) { log.push(`unhandle ${p}`); handlers.delete(p) }
  } as unknown as Network
  return { net, log, handlers }
}

const stream = (): Stream & { aborted?: Error } => {
  const s = { abort (err: Error) { s.aborted = err } } as unknown as Stream & { aborted?: Error }
  return s
}
const conn = {} as unknown as Connection

test('stand-ins: a stream before the load loads the feature once and reaches its handler', async () => {
  const { net, log, handlers } = recordingNetwork()
  const got: string[] = []
  let loads = 0
  let loading: Promise<void> | undefined
  const standIns = protocolStandIns(net, { '/x/1': { maxInboundStreams: 4 }, '/y/1': {} }, async () => {
    loading ??= (async () => {
      loads++
      await standIns.network.handle('/x/1', () => { got.push('x') }, { maxInboundStreams: 4 })
      await standIns.network.handle('/y/1', () => { got.push('y') }, { maxInboundStreams: 8 })
    })()
    await loading
  })
  await standIns.start()
  assert.deepEqual(log, ['handle /x/1 {"maxInboundStreams":4}', 'handle /y/1 {}'])
  // two streams at once, before the feature exists
  await Promise.all([handlers.get('/x/1')!(stream(), conn), handlers.get('/x/1')!(stream(), conn)])
  assert.equal(loads, 1)
  assert.deepEqual(got, ['x', 'x'])
  // /x/1 kept its registration (same options); /y/1 was registered again with the feature's options
  assert.deepEqual(log.slice(2), ['unhandle /y/1', 'handle /y/1 {"maxInboundStreams":8}'])
  await handlers.get('/y/1')!(stream(), conn)
  assert.deepEqual(got, ['x', 'x', 'y'])
  // a protocol the stand-ins do not cover passes straight through
  await standIns.network.handle('/z/1', () => {}, {})
  assert.equal(log.at(-1), 'handle /z/1 {}')

  // the feature stops (unhandle) and starts again (handle): registered for real both times
  await standIns.network.unhandle('/x/1')
  assert.equal(handlers.has('/x/1'), false)
  await standIns.network.handle('/x/1', () => { got.push('x2') }, { maxInboundStreams: 4 })
  await handlers.get('/x/1')!(stream(), conn)
  assert.deepEqual(got.at(-1), 'x2')
  await standIns.stop()
  assert.equal(handlers.has('/x/1'), false)
  assert.equal(handlers.has('/y/1'), false)
})

test('stand-ins: a failed load aborts the waiting stream with the error, and a later stream tries again', async () => {
  const { net, handlers } = recordingNetwork()
  let attempt = 0
  const standIns = protocolStandIns(net, { '/x/1': {} }, async () => {
    attempt++
    if (attempt === 1) throw new RangeError('no code')
    await standIns.network.handle('/x/1', () => {}, {})
  })
  await standIns.start()
  const s = stream()
  await handlers.get('/x/1')!(s, conn)
  assert.ok(s.aborted instanceof RangeError && s.aborted.message === 'no code')
  const s2 = stream()
  await handlers.get('/x/1')!(s2, conn)
  assert.equal(s2.aborted, undefined)
  assert.equal(attempt, 2)
})

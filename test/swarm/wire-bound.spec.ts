/**
 * Read-ahead bounds of the one-message-per-direction protocols (the swarm key protocol's
 * `channel`, src/swarm/wire.ts, and the VPN control protocol's `serve`, src/vpn/control.ts), on
 * real nodes over loopback TCP: a peer that sends more than one message's worth before the reply
 * has its stream reset instead of filling a 4 MiB buffer per stream; a normal exchange on the same
 * connection goes through.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import * as varint from 'uint8-varint'
import { channel, MAX_MESSAGE_BYTES } from '../../src/swarm/wire.js'
import { MAX_CONTROL_MESSAGE, serve } from '../../src/vpn/control.js'
import { startNode, waitFor, type TestNode } from '../network/helpers.js'
import type { Stream } from '@libp2p/interface'

const WIRE = '/dmsnet-test/swarm-wire/1'
const CTL = '/dmsnet-test/vpn-ctl/1'

/** Sends `body` (length-prefixed) plus `extra` unprompted bytes; the reply's text (empty or the error's name when reset). */
async function exchange (stream: Stream, body: Uint8Array, extra: number): Promise<string> {
  const replied = new Promise<string>((resolve) => {
    let text = ''
    stream.addEventListener('message', (e) => { text += new TextDecoder().decode(e.data.subarray()) })
    stream.addEventListener('close', (e) => { resolve(e.error != null ? `error:${e.error.name}` : text) })
  })
  stream.send(varint.encode(body.byteLength))
  stream.send(body)
  if (extra > 0) stream.send(new Uint8Array(extra))
  await stream.close().catch(() => {})
  return await replied
}

const json = (v: unknown, size = 0): Uint8Array => {
  const s = JSON.stringify(v)
  return new TextEncoder().encode(size > s.length ? s + ' '.repeat(size - s.length) : s)
}

describe('one-message protocols bound what a peer may send ahead', { timeout: 60_000 }, () => {
  let a: TestNode, b: TestNode
  before(async () => {
    a = await startNode()
    b = await startNode()
    await a.net.handle(WIRE, (stream) => {
      void (async () => {
        const ch = channel(stream)
        const signal = AbortSignal.timeout(10_000)
        try {
          // read once the peer has sent all it will (a busy node reads late): what it sent ahead is buffered
          await waitFor(() => stream.remoteWriteStatus !== 'writable', 10_000, 'the peer to finish sending')
          await ch.read({ signal })
          await ch.write({ t: 'ok' }, { signal })
          await stream.close({ signal })
        } catch (err) { stream.abort(err as Error) }
      })()
    })
    await a.net.handle(CTL, (stream) => { void serve(stream, async () => ({ ok: true }), { signal: AbortSignal.timeout(10_000) }).catch((err: Error) => { stream.abort(err) }) })
  })
  after(async () => {
    await b?.stop()
    await a?.stop()
  })

  it('swarm key protocol: one message is answered; a message followed by 100 kB more is reset', async () => {
    const to = a.net.getMultiaddrs()[0]!
    assert.match(await exchange(await b.net.dialProtocol(to, WIRE), json({ t: 'sync', swarm: 'x' }), 0), /"t":"ok"/)
    assert.doesNotMatch(await exchange(await b.net.dialProtocol(to, WIRE), json({ t: 'sync', swarm: 'x' }, MAX_MESSAGE_BYTES - 100), 100_000), /"t":"ok"/)
    // the connection and the protocol still serve an honest peer
    assert.match(await exchange(await b.net.dialProtocol(to, WIRE), json({ t: 'sync', swarm: 'x' }), 0), /"t":"ok"/)
  })

  it('VPN control protocol: one request is answered; a request followed by 1.5 MB more is reset', async () => {
    const to = a.net.getMultiaddrs()[0]!
    assert.match(await exchange(await b.net.dialProtocol(to, CTL), json({ type: 'fetch', networkId: 'n' }), 0), /"ok":true/)
    assert.doesNotMatch(await exchange(await b.net.dialProtocol(to, CTL), json({ type: 'fetch', networkId: 'n' }, MAX_CONTROL_MESSAGE - 100), 1_500_000), /"ok":true/)
    assert.match(await exchange(await b.net.dialProtocol(to, CTL), json({ type: 'fetch', networkId: 'n' }), 0), /"ok":true/)
  })
})

/**
 * Attacker commands for a vpn-node process (test/e2e/vpn-hostile.spec.ts): crafted control frames
 * and raw tunnel streams built from the project's own libraries, bypassing the VPN's own checks on
 * the sending side, plus a plain TCP listener that records dial attempts.
 */
import { createServer, type Server } from 'node:net'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { CONTROL_PROTOCOL } from '../../src/vpn/control.js'
import { buildBatch } from '../../src/netdev/records.js'
import type { Network } from '../../src/network/types.js'
import type { Vpn } from '../../src/vpn/vpn.js'
import type { Stream } from '@libp2p/interface'

export interface HostileContext {
  network: Network
  vpn: Vpn
}

/** The latest raw stream to a peer; counters add up over every stream opened to it. */
interface RawStream { stream: Stream, rxBytes: number, rxMessages: number }

const raw = new Map<string, RawStream>()
let listener: Server | undefined
let accepted = 0

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))

/** Runs one attacker command; undefined when `cmd` is not one. */
export async function hostileCommand (ctx: HostileContext, c: Record<string, unknown>): Promise<unknown> {
  const signal = AbortSignal.timeout(10_000)
  switch (c.cmd) {
    case 'ctl': {
      // One control exchange with a crafted request (`request`, any JSON) or raw bytes (`rawHex`, sent as they are).
      const stream = await ctx.network.dialProtocol(peerIdFromString(c.peerId as string), CONTROL_PROTOCOL, { signal })
      const lp = lpStream(stream, { maxDataLength: 4 * 1024 * 1024 })
      try {
        if (c.rawHex != null) {
          stream.send(hex(c.rawHex as string))
        } else {
          await lp.write(new TextEncoder().encode(JSON.stringify(c.request)), { signal })
        }
        const reply = await lp.read({ signal })
        return JSON.parse(new TextDecoder().decode(reply.subarray())) as unknown
      } catch (err) {
        return { transportError: (err as Error).name }
      } finally {
        stream.abort(new Error('done'))
      }
    }
    case 'rawOpen': {
      const peerId = c.peerId as string
      const stream = await ctx.network.dialProtocol(peerIdFromString(peerId), c.protocol as string, { signal, runOnLimitedConnection: true })
      const prev = raw.get(peerId)
      const r: RawStream = { stream, rxBytes: prev?.rxBytes ?? 0, rxMessages: prev?.rxMessages ?? 0 }
      stream.addEventListener('message', (evt) => { r.rxBytes += evt.data.byteLength; r.rxMessages++ })
      raw.set(peerId, r)
      return true
    }
    case 'rawSend': {
      // Records (payload hex each) on the raw stream; false when it can no longer be written.
      const r = raw.get(c.peerId as string)
      if (r == null || r.stream.writeStatus !== 'writable') return false
      try {
        r.stream.send(buildBatch((c.payloads as string[]).map(hex)))
        return true
      } catch {
        return false
      }
    }
    case 'rawStats': {
      const r = raw.get(c.peerId as string)
      return r == null ? null : { status: r.stream.status, writeStatus: r.stream.writeStatus, rxBytes: r.rxBytes, rxMessages: r.rxMessages }
    }
    case 'inject':
      // Records onto this node's own tunnel to a member (a member misbehaving).
      return ctx.vpn.injectRecords(c.peerId as string, buildBatch((c.payloads as string[]).map(hex)))
    case 'tcpListen': {
      const srv = createServer((sock) => { accepted++; sock.destroy() })
      listener = srv
      await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(c.port as number, c.host as string, resolve) })
      return true
    }
    case 'tcpSeen':
      return { accepted, listening: listener?.listening === true }
    default:
      return undefined
  }
}

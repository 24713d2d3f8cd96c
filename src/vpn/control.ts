/**
 * The VPN control protocol (`/dmsnet/vpn/ctl/1.0.0`): the authority pushes membership snapshots,
 * members pull the latest after a restart, and a stopping node says goodbye. One short stream per
 * exchange (control is rare), one length-prefixed JSON request and one JSON reply, size-bounded.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Logger } from '../logging.js'
import { withTimeout } from '../util/signal.js'
import type { Network } from '../network/types.js'
import type { AbortOptions, Stream } from '@libp2p/interface'
import { InvalidFrameError } from './errors.js'
import { parseMembership, type VpnMembership } from './membership.js'

export const CONTROL_PROTOCOL = '/dmsnet/vpn/ctl/1.0.0'
export const MAX_CONTROL_MESSAGE = 1024 * 1024
/** Bytes read ahead on a control stream: one message and its length prefix (the default is 4 MiB). */
const MAX_CONTROL_BUFFER = MAX_CONTROL_MESSAGE + 16

export type ControlRequest =
  | { type: 'membership', membership: VpnMembership }
  | { type: 'fetch', networkId: string }
  | { type: 'bye', networkId: string }

export type ControlReply =
  | { ok: true, membership?: VpnMembership }
  | { ok: false, error: string }

export function parseRequest (v: unknown): ControlRequest {
  if (v == null || typeof v !== 'object') throw new InvalidFrameError('control: not an object')
  const o = v as Record<string, unknown>
  if (o.type === 'membership') return { type: 'membership', membership: parseMembership(o.membership) }
  if ((o.type === 'fetch' || o.type === 'bye') && typeof o.networkId === 'string' && o.networkId.length <= 64) return { type: o.type, networkId: o.networkId }
  throw new InvalidFrameError('control: unknown request')
}

export function parseReply (v: unknown): ControlReply {
  if (v == null || typeof v !== 'object') throw new InvalidFrameError('control: bad reply')
  const o = v as Record<string, unknown>
  if (o.ok === true) return o.membership != null ? { ok: true, membership: parseMembership(o.membership) } : { ok: true }
  return { ok: false, error: typeof o.error === 'string' ? o.error.slice(0, 512) : 'unknown error' }
}

async function readJSON (lp: ReturnType<typeof lpStream>, options?: AbortOptions): Promise<unknown> {
  const buf = await lp.read(options)
  try {
    return JSON.parse(new TextDecoder().decode(buf.subarray()))
  } catch (err) {
    throw new InvalidFrameError('control: not JSON', { cause: err })
  }
}

/** Client side: sends one request on a fresh stream and reads the reply. */
export async function exchange (stream: Stream, req: ControlRequest, options?: AbortOptions): Promise<ControlReply> {
  const lp = lpStream(stream, { maxDataLength: MAX_CONTROL_MESSAGE, maxBufferSize: MAX_CONTROL_BUFFER })
  await lp.write(new TextEncoder().encode(JSON.stringify(req)), options)
  const reply = parseReply(await readJSON(lp, options))
  await stream.close(options).catch(() => {})
  return reply
}

/** Server side: reads one request, answers with what `handle` returns (errors become `ok: false`). */
export async function serve (stream: Stream, handle: (req: ControlRequest) => Promise<ControlReply>, options?: AbortOptions): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_CONTROL_MESSAGE, maxBufferSize: MAX_CONTROL_BUFFER })
  let reply: ControlReply
  try {
    reply = await handle(parseRequest(await readJSON(lp, options)))
  } catch (err) {
    reply = { ok: false, error: `${(err as Error).name}: ${(err as Error).message}` }
  }
  await lp.write(new TextEncoder().encode(JSON.stringify(reply)), options)
  await stream.close(options).catch(() => {})
}

/** Sends one control request to `peerId` (by peer id only) on a fresh stream; failures are logged and yield undefined. */
export async function tell (network: Network, peerId: string, req: ControlRequest, log?: Logger, options?: AbortOptions): Promise<ControlReply | undefined> {
  const signal = withTimeout(options?.signal, 5000)
  try {
    const conn = await network.dial(peerIdFromString(peerId), { signal })
    const stream = await conn.newStream(CONTROL_PROTOCOL, { signal, runOnLimitedConnection: true } as AbortOptions)
    const reply = await exchange(stream, req, { signal })
    if (!reply.ok) log?.warn({ peer: peerId, error: reply.error }, 'vpn control request refused')
    return reply
  } catch (err) {
    log?.debug({ peer: peerId, err }, `vpn control ${req.type} failed`)
    return undefined
  }
}

/** What answering a control request needs from the VPN it reaches (vpn.ts). */
export interface ControlContext {
  selfPeerId: string
  /** the membership as received and persisted here */
  current: VpnMembership | undefined
  /** `peer` said goodbye: its tunnel stream goes */
  bye: (peer: string) => void
  /** a membership pushed by `peer`, judged and applied (in the VPN's serial queue) */
  accept: (peer: string, m: VpnMembership) => Promise<void>
}

/** The answer to one control request from `from`. */
export async function answer (from: string, req: ControlRequest, ctx: ControlContext): Promise<ControlReply> {
  const cur = ctx.current
  switch (req.type) {
    case 'fetch':
      if (cur == null || cur.networkId !== req.networkId || cur.authority !== ctx.selfPeerId) return { ok: false, error: 'not the authority of that VPN' }
      // a peer that is not a member learns only that it is not one
      if (!cur.members.some(m => m.peerId === from)) return { ok: true, membership: { ...cur, members: [] } }
      return { ok: true, membership: cur }
    case 'bye':
      if (cur?.networkId === req.networkId) ctx.bye(from)
      return { ok: true }
    case 'membership':
      await ctx.accept(from, req.membership)
      return { ok: true }
  }
}

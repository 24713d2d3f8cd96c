/**
 * The key protocol's server side: one request per stream, dispatched by role. Key requests
 * (`get`) and statement requests (`sync`) go to the creator role; the creator's pushes (`push`,
 * `switch`, `members`, `revoked`) go to the member role only when they come from the creator over
 * the swarm host. Anything else gets `err unauthorized`, is counted and logged (rate-limited).
 * A stream that ends without a reply (garbage, an oversized length prefix, a peer that never
 * finishes its request, a reset) is aborted and counted by kind in `failures`, so an operator
 * sees a peer hammering the key protocol without turning on debug logs.
 */
import { LogLimiter } from './log-limit.js'
import { channel, type SwarmMessage } from './wire.js'
import type { SwarmContext } from './context.js'
import type { CreatorRole } from './creator.js'
import type { MemberRole } from './member.js'
import type { Connection, Stream } from '@libp2p/interface'

/** Key-protocol streams that ended without a reply, by kind. */
export interface ProtocolFailures {
  /** Not JSON, or no known message type. */
  malformed: number
  /** A length prefix over the 64 KiB bound, or more than one message's bytes sent ahead. */
  oversized: number
  /** The request (or our reply) did not complete within the request timeout. */
  timeout: number
  /** The peer closed or reset the stream before its request was complete, or another stream error. */
  closed: number
}

/** The kind of failure an error from reading or answering a key-protocol stream is. */
export function failureKind (err: unknown): keyof ProtocolFailures {
  const name = (err as { name?: unknown } | null)?.name
  switch (name) {
    case 'SwarmProtocolError':
    case 'InvalidMessageLengthError':
      return 'malformed'
    case 'InvalidDataLengthError':
    case 'InvalidDataLengthLengthError':
    case 'StreamBufferError':
      return 'oversized'
    case 'TimeoutError':
    case 'AbortError':
      return 'timeout'
    default:
      return 'closed'
  }
}

export class SwarmProtocol {
  /** Creator-only messages refused because they did not come from the creator. */
  foreign = 0
  readonly failures: ProtocolFailures = { malformed: 0, oversized: 0, timeout: 0, closed: 0 }
  private readonly log: LogLimiter

  constructor (private readonly ctx: SwarmContext, private readonly creator: CreatorRole, private readonly member: MemberRole, logIntervalMs: number) {
    this.log = new LogLimiter(logIntervalMs)
  }

  async onStream (stream: Stream, connection: Connection, via: 'swarm' | 'key-service'): Promise<void> {
    const { ctx } = this
    const remote = connection.remotePeer.toString()
    const ch = channel(stream)
    const signal = AbortSignal.timeout(ctx.requestTimeoutMs)
    let after: (() => void) | undefined
    try {
      const msg = await ch.read({ signal })
      let reply: SwarmMessage
      const s = ctx.state
      if (msg.t === 'get') {
        reply = await this.creator.serveKey(remote, msg, via)
      } else if (msg.t === 'sync') {
        reply = await this.creator.serveSync(remote, msg, via)
      } else if (via === 'swarm' && s?.role === 'member' && remote === s.creator) {
        ({ reply, after } = await this.member.onCreatorMessage(msg))
      } else {
        this.foreign++
        const suppressed = this.log.take(`${remote}\0${msg.t}`)
        if (suppressed != null) ctx.log.warn({ peer: remote, type: msg.t, via, suppressedSinceLast: suppressed }, 'swarm message from a peer that is not the creator')
        reply = { t: 'err', code: 'unauthorized', message: 'only the swarm creator may send this' }
      }
      await ch.write(reply, { signal })
      await stream.close({ signal })
    } catch (err) {
      this.failures[failureKind(err)]++
      ctx.log.debug({ peer: remote, err }, 'swarm protocol stream failed')
      stream.abort(err as Error)
      return
    }
    after?.()
  }
}

/**
 * The key protocol's server side: one request per stream, dispatched by role. Key requests
 * (`get`) and statement requests (`sync`) go to the creator role; the creator's pushes (`push`,
 * `switch`, `members`, `revoked`) go to the member role only when they come from the creator over
 * the swarm host. Anything else gets `err unauthorized`, is counted and logged (rate-limited).
 */
import { LogLimiter } from './log-limit.js'
import { channel, type SwarmMessage } from './wire.js'
import type { SwarmContext } from './context.js'
import type { CreatorRole } from './creator.js'
import type { MemberRole } from './member.js'
import type { Connection, Stream } from '@libp2p/interface'

export class SwarmProtocol {
  /** Creator-only messages refused because they did not come from the creator. */
  foreign = 0
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
      ctx.log.debug({ peer: remote, err }, 'swarm protocol stream failed')
      stream.abort(err as Error)
      return
    }
    after?.()
  }
}

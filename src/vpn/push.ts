/**
 * The authority's membership pushes, made again until each member has taken the snapshot.
 *
 * Why: a push is one control exchange bounded at 5 s (control.ts `tell`). Before, a member whose
 * push failed (its daemon too slow to load the VPN and answer under load, a connection closed
 * under the push, a TUN that did not open) was never pushed that snapshot again: a member that had
 * never held one (an invitation) has nothing to refresh from, so it stayed out of the VPN until
 * the next membership change; a member whose device failed to open held the version and ignored
 * it when it came again (bench scale at N=100: "17/20 members running after 120 s").
 *
 * What it does: after each push, every member that did not answer `ok` is pushed the same
 * snapshot again after `firstRetryMs`, doubling up to `maxRetryMs`, and at once when a connection
 * to it comes up, until it answers `ok`, a newer snapshot replaces this one (the newer push takes
 * over), the peer is no longer a member, or `stop()`. A member that refuses the invitation by its
 * trust or policy (an answer naming such a refusal) is not pushed again: that answer will not
 * change until its operator acts, and a restarted member asks its authority itself. The first
 * failure per member and snapshot is logged at warn (the operator's sign of a member left out),
 * the later ones at debug.
 */
import type { Logger } from '../logging.js'
import type { Network } from '../network/types.js'
import type { ControlReply } from './control.js'
import type { VpnMembership } from './membership.js'
import type { AbortOptions } from '@libp2p/interface'

export const DEFAULT_PUSH_RETRY_MS = 1000
export const DEFAULT_PUSH_RETRY_MAX_MS = 60_000

/** A member's answer that will not change by asking again (errors.ts names; control.ts prefixes the reply's error with the name). */
const FINAL_REFUSALS = ['InvitationRefusedError', 'MembershipRefusedError', 'NotAuthorityError', 'StaleMembershipError']

export interface PusherOptions {
  network: Network
  selfPeerId: string
  log?: Logger
  /** Sends one membership to one member (undefined: no answer). */
  send: (peerId: string, m: VpnMembership, options?: AbortOptions) => Promise<ControlReply | undefined>
  /** First wait before a failed push is made again (doubling); 0: never again. */
  firstRetryMs?: number
  maxRetryMs?: number
}

export interface PusherStats {
  /** Pushes made again after a failed one. */
  retries: number
  /** Members that have not taken the current snapshot (and are still tried). */
  pending: number
  /** Members that took the current snapshot only after a retry. */
  recovered: number
}

export interface MembershipPusher {
  /**
   * Pushes `m` to every other member; resolves after the first attempt at each (retries go on in
   * the background). Pushes of the snapshot before still on the wire are waited for first.
   */
  push: (m: VpnMembership, options?: AbortOptions) => Promise<void>
  /** Members still waiting for the current snapshot. */
  pendingPeers: () => string[]
  readonly stats: Readonly<PusherStats>
  /** No more pushes; resolves once none is on the wire (a later message must not be overtaken by an older snapshot). */
  stop: () => Promise<void>
}

interface Pending {
  attempts: number
  timer?: ReturnType<typeof setTimeout>
  inFlight: boolean
  warned: boolean
}

export function createMembershipPusher (opts: PusherOptions): MembershipPusher {
  const first = opts.firstRetryMs ?? DEFAULT_PUSH_RETRY_MS
  const max = opts.maxRetryMs ?? DEFAULT_PUSH_RETRY_MAX_MS
  let current: VpnMembership | undefined
  const pending = new Map<string, Pending>()
  const stats: PusherStats = { retries: 0, pending: 0, recovered: 0 }
  let unlisten: (() => void) | undefined
  /** Pushes on the wire: a removed member told it is out must not then receive an older snapshot naming it. */
  const onWire = new Set<Promise<unknown>>()

  const forget = (peerId: string): void => {
    const p = pending.get(peerId)
    if (p?.timer != null) clearTimeout(p.timer)
    pending.delete(peerId)
    stats.pending = pending.size
  }

  const clear = (): void => {
    for (const peerId of [...pending.keys()]) forget(peerId)
  }

  /** One push of `m` to `peerId`; on failure the next one is scheduled (while `m` is still the current snapshot). */
  async function attempt (peerId: string, m: VpnMembership, options?: AbortOptions): Promise<void> {
    const p = pending.get(peerId)
    if (p == null || p.inFlight || current !== m) return
    if (p.timer != null) clearTimeout(p.timer)
    p.timer = undefined
    p.inFlight = true
    if (p.attempts > 0) stats.retries++
    p.attempts++
    let reply: ControlReply | undefined
    const sent = opts.send(peerId, m, options)
    onWire.add(sent)
    try {
      reply = await sent
    } finally {
      onWire.delete(sent)
      p.inFlight = false
    }
    if (current !== m || pending.get(peerId) !== p) return
    if (reply?.ok === true) {
      if (p.attempts > 1) {
        stats.recovered++
        opts.log?.info({ peer: peerId, version: m.version, attempts: p.attempts }, 'vpn member took the membership after a retry')
      }
      forget(peerId)
      return
    }
    const error = reply?.ok === false ? reply.error : 'no answer'
    if (FINAL_REFUSALS.some(name => error.startsWith(`${name}:`))) {
      opts.log?.warn({ peer: peerId, version: m.version, error }, 'vpn member refused the membership: not pushed again')
      forget(peerId)
      return
    }
    if (first <= 0) {
      // retries off (before/after runs): one attempt, as before stop 28
      opts.log?.warn({ peer: peerId, version: m.version, error }, 'vpn membership push failed (not pushed again: retries off)')
      forget(peerId)
      return
    }
    const delay = Math.min(max, first * 2 ** (p.attempts - 1))
    if (!p.warned) {
      p.warned = true
      opts.log?.warn({ peer: peerId, version: m.version, error, retryInMs: delay }, 'vpn membership push failed: pushing again until the member takes it')
    } else {
      opts.log?.debug({ peer: peerId, version: m.version, error, retryInMs: delay }, 'vpn membership push failed again')
    }
    p.timer = setTimeout(() => { void attempt(peerId, m) }, delay)
    p.timer.unref?.()
  }

  return {
    stats,
    pendingPeers: () => [...pending.keys()],
    async push (m, options) {
      // a newer snapshot replaces the one still being pushed: its retries stop here
      current = undefined
      clear()
      await Promise.allSettled([...onWire])
      current = m
      const others = m.members.filter(x => x.peerId !== opts.selfPeerId).map(x => x.peerId)
      for (const peerId of others) pending.set(peerId, { attempts: 0, inFlight: false, warned: false })
      stats.pending = pending.size
      // a member that (re)connects is pushed to at once instead of at its next retry
      unlisten ??= opts.network.eventRegister('peer:connectedness', (d) => {
        if (d.connectedness === 'connected' && current != null) void attempt(d.peerId, current)
      })
      await Promise.all(others.map(async peerId => { await attempt(peerId, m, options) }))
    },
    async stop () {
      current = undefined
      clear()
      unlisten?.()
      unlisten = undefined
      await Promise.allSettled([...onWire])
    }
  }
}

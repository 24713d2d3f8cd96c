/**
 * Keeps a member's membership fresh. The authority pushes every change, but a push is best effort
 * (control.ts `tell` gives up after 5 s): a member that missed the push of a removal would go on
 * accepting the removed peer for as long as it runs. So a member also fetches the membership from
 * its authority every `intervalMs` (default 30 s) and whenever a connection to the authority comes
 * (back) up. While the authority is reachable, a member stops accepting a removed peer at most one
 * interval (plus one fetch, at most 5 s) after the removal; see docs/vpn.md 'Trust and policy'.
 *
 * A membership this node's policy refuses is judged (counted, logged, evented) once: fetched again
 * unchanged (same network and version) it is only counted in `refusedRepeats`, and the periodic
 * fetch backs off while the authority's answer stays refused (2, 4, then at most 8 intervals),
 * back to every interval as soon as a membership is accepted. A (re)connection to the authority
 * still fetches at once.
 */
import type { ControlReply } from './control.js'
import type { VpnMembership } from './membership.js'
import type { Logger } from '../logging.js'
import type { Network } from '../network/types.js'

export const DEFAULT_REFRESH_MS = 30_000
/** Longest gap between periodic fetches while the authority's membership is refused, in intervals. */
export const MAX_REFUSED_BACKOFF = 8

/** Errors of the member's judgement that mean "this node's policy or trust refuses it" (vpn/errors.ts). */
const REFUSALS = new Set(['MembershipRefusedError', 'InvitationRefusedError'])

export interface RefresherStats {
  /** Fetches sent to the authority. */
  fetches: number
  /** Fetched memberships left unjudged because that very membership was refused before. */
  refusedRepeats: number
  /** Current gap between periodic fetches (0: every interval). */
  backoffMs: number
}

export interface RefresherOptions {
  network: Network
  log?: Logger
  intervalMs?: number
  /** The membership held now (undefined: nothing to refresh). */
  current: () => VpnMembership | undefined
  /** Asks `authority` for the membership of `networkId` (undefined when it did not answer). */
  fetch: (authority: string, networkId: string) => Promise<ControlReply | undefined>
  /** Hands a fetched membership to the member's judgement (member.ts), serialised with control. */
  accept: (from: string, m: VpnMembership) => Promise<void>
}

export interface MembershipRefresher {
  readonly stats: Readonly<RefresherStats>
  /** Fetches once now (coalesced with one in flight). */
  pull (): Promise<void>
  /** Refreshes from `authority` periodically and on (re)connection to it (stops when that is us). */
  start (authority: string): void
  stop (): void
}

export function createMembershipRefresher (opts: RefresherOptions): MembershipRefresher {
  let inFlight: Promise<void> | undefined
  let timer: ReturnType<typeof setInterval> | undefined
  let unlisten: (() => void) | undefined
  let watching: string | undefined
  const interval = opts.intervalMs ?? DEFAULT_REFRESH_MS
  const stats: RefresherStats = { fetches: 0, refusedRepeats: 0, backoffMs: 0 }
  /** The last membership refused (`networkId version`), consecutive refusals, and the next periodic fetch allowed. */
  let refusedKey: string | undefined
  let refusals = 0
  let notBefore = 0

  const backOff = (): void => {
    refusals++
    stats.backoffMs = interval * Math.min(2 ** refusals, MAX_REFUSED_BACKOFF)
    // periodic ticks come every interval: the first one at or after the gap fetches
    notBefore = Date.now() + stats.backoffMs - interval / 2
  }

  async function pullOnce (periodic: boolean): Promise<void> {
    const cur = opts.current()
    if (cur == null || cur.authority === opts.network.peerId.toString()) return
    if (periodic && Date.now() < notBefore) return
    stats.fetches++
    const reply = await opts.fetch(cur.authority, cur.networkId)
    if (reply?.ok !== true || reply.membership == null) return
    const m = reply.membership
    const key = `${m.networkId} ${m.version}`
    if (key === refusedKey) {
      stats.refusedRepeats++
      backOff()
      return
    }
    try {
      await opts.accept(cur.authority, m)
      refusedKey = undefined
      refusals = 0
      notBefore = 0
      stats.backoffMs = 0
    } catch (err) {
      if (REFUSALS.has((err as Error).name)) {
        // the judgement counted and logged it; a repeat of the same membership is not judged again
        refusedKey = key
        backOff()
        return
      }
      opts.log?.warn({ err }, 'could not apply the authority\'s membership')
    }
  }

  const pullWith = async (periodic: boolean): Promise<void> => {
    inFlight ??= pullOnce(periodic).finally(() => { inFlight = undefined })
    await inFlight
  }
  const pull = async (): Promise<void> => { await pullWith(false) }

  const stop = (): void => {
    if (timer != null) clearInterval(timer)
    timer = undefined
    unlisten?.()
    unlisten = undefined
    watching = undefined
  }

  return {
    stats,
    pull,
    start (authority) {
      if (watching === authority) return
      stop()
      if (authority === opts.network.peerId.toString()) return
      watching = authority
      timer = setInterval(() => { void pullWith(true) }, interval)
      timer.unref()
      unlisten = opts.network.eventRegister('peer:connectedness', (d) => {
        if (d.peerId === authority && d.connectedness === 'connected') void pull()
      })
    },
    stop
  }
}

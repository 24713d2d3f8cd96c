/**
 * Keeps a member's membership fresh. The authority pushes every change, but a push is best effort
 * (control.ts `tell` gives up after 5 s): a member that missed the push of a removal would go on
 * accepting the removed peer for as long as it runs. So a member also fetches the membership from
 * its authority every `intervalMs` (default 30 s) and whenever a connection to the authority comes
 * (back) up. While the authority is reachable, a member stops accepting a removed peer at most one
 * interval (plus one fetch, at most 5 s) after the removal; see docs/vpn.md 'Trust and policy'.
 */
import type { ControlReply } from './control.js'
import type { VpnMembership } from './membership.js'
import type { Logger } from '../logging.js'
import type { Network } from '../network/types.js'

export const DEFAULT_REFRESH_MS = 30_000

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

  async function pullOnce (): Promise<void> {
    const cur = opts.current()
    if (cur == null || cur.authority === opts.network.peerId.toString()) return
    const reply = await opts.fetch(cur.authority, cur.networkId)
    if (reply?.ok !== true || reply.membership == null) return
    try {
      await opts.accept(cur.authority, reply.membership)
    } catch (err) {
      opts.log?.warn({ err }, 'could not apply the authority\'s membership')
    }
  }

  const pull = async (): Promise<void> => {
    inFlight ??= pullOnce().finally(() => { inFlight = undefined })
    await inFlight
  }

  const stop = (): void => {
    if (timer != null) clearInterval(timer)
    timer = undefined
    unlisten?.()
    unlisten = undefined
    watching = undefined
  }

  return {
    pull,
    start (authority) {
      if (watching === authority) return
      stop()
      if (authority === opts.network.peerId.toString()) return
      watching = authority
      timer = setInterval(() => { void pull() }, opts.intervalMs ?? DEFAULT_REFRESH_MS)
      timer.unref()
      unlisten = opts.network.eventRegister('peer:connectedness', (d) => {
        if (d.peerId === authority && d.connectedness === 'connected') void pull()
      })
    },
    stop
  }
}

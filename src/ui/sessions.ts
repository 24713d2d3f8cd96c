/**
 * Logins for the status page: `ui.login` (a control call, so only a holder of the control token
 * gets one) mints a one-time code; the browser trades it once for a session id kept in an
 * HttpOnly cookie. Both tables are bounded and expire, so a flood of logins cannot grow memory.
 */
import { randomBytes } from 'node:crypto'
import { tokenMatches } from '../control/token.js'

export interface SessionStoreOptions {
  /** How long a login link works. Default 2 minutes. */
  codeTtlMs?: number
  /** How long a session lasts. Default 12 hours. */
  sessionTtlMs?: number
  /** Outstanding codes / live sessions kept; the oldest go first. Default 16 / 64. */
  maxCodes?: number
  maxSessions?: number
  now?: () => number
}

export interface SessionStore {
  /** A new one-time login code. */
  issueCode: () => { code: string, expiresAt: number }
  /** Spends a code (valid once, until it expires); returns a new session id, or undefined. */
  redeem: (code: string) => string | undefined
  /** true while the session id is live. */
  valid: (session: string | undefined) => boolean
  readonly sessions: number
}

function secret (): string {
  return randomBytes(32).toString('base64url')
}

/** Keeps at most `max` entries and drops expired ones (Map keeps insertion order: oldest first). */
function prune (map: Map<string, number>, max: number, now: number): void {
  for (const [k, exp] of map) if (exp <= now) map.delete(k)
  while (map.size > max) map.delete(map.keys().next().value as string)
}

/** Finds a key in constant time per entry, so a timing probe learns nothing about live secrets. */
function find (map: Map<string, number>, given: string): string | undefined {
  let hit: string | undefined
  for (const k of map.keys()) if (tokenMatches(k, given)) hit = k
  return hit
}

export function createSessionStore (options: SessionStoreOptions = {}): SessionStore {
  const codeTtl = options.codeTtlMs ?? 120_000
  const sessionTtl = options.sessionTtlMs ?? 12 * 3600_000
  const maxCodes = options.maxCodes ?? 16
  const maxSessions = options.maxSessions ?? 64
  const now = options.now ?? Date.now
  const codes = new Map<string, number>()
  const sessions = new Map<string, number>()

  return {
    issueCode () {
      const code = secret()
      const expiresAt = now() + codeTtl
      codes.set(code, expiresAt)
      prune(codes, maxCodes, now())
      return { code, expiresAt }
    },
    redeem (code) {
      prune(codes, maxCodes, now())
      const hit = find(codes, code)
      if (hit == null) return undefined
      codes.delete(hit)
      const session = secret()
      sessions.set(session, now() + sessionTtl)
      prune(sessions, maxSessions, now())
      return session
    },
    valid (session) {
      if (session == null || session === '') return false
      prune(sessions, maxSessions, now())
      return find(sessions, session) != null
    },
    get sessions () { return sessions.size }
  }
}

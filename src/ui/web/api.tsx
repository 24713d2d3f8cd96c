/**
 * The page's side of /api: read-only control calls (the same methods and result types as the CLI)
 * and the live event feed. A 401 means the session is gone; the page then asks for a new link.
 */
import type { NetworkStatus } from '../../network/types.js'
import type { SwarmStatus } from '../../swarm/swarm.js'
import type { VpnStatus } from '../../vpn/types.js'
import type { NodeEvent } from '../../control/catalogue/index.js'

export type { NetworkStatus, SwarmStatus, VpnStatus, NodeEvent }

/** `node.status`'s result (see src/daemon/control-methods.ts). */
export interface NodeStatus extends NetworkStatus {
  version: string
  dataDir: string
  uptimeMs: number
  metricsUrl: string | null
  modules: Record<string, unknown>
}

export class ApiError extends Error {
  static override name = 'ApiError'
  constructor (readonly errorName: string, message: string, readonly status: number) {
    super(message)
  }
}

export async function call<T> (method: string, params: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch('/api/call', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ method, params }),
    credentials: 'same-origin'
  })
  const body = await res.json().catch(() => ({})) as { result?: T, error?: { name: string, message: string } }
  if (!res.ok || body.error != null) throw new ApiError(body.error?.name ?? 'Error', body.error?.message ?? `HTTP ${res.status}`, res.status)
  return body.result as T
}

/** Calls a method a disabled module may not offer: undefined instead of an error. */
export async function optional<T> (method: string): Promise<T | undefined> {
  try {
    return await call<T>(method)
  } catch (err) {
    if (err instanceof ApiError && err.errorName === 'MethodNotFoundError') return undefined
    throw err
  }
}

/** Opens the live feed; EventSource reconnects by itself after a drop. */
export function subscribe (onEvent: (e: NodeEvent) => void, onState: (live: boolean) => void): () => void {
  const es = new EventSource('/api/events')
  es.onopen = () => { onState(true) }
  es.onerror = () => { onState(false) }
  es.onmessage = (m: MessageEvent<string>) => {
    try { onEvent(JSON.parse(m.data) as NodeEvent) } catch { /* a malformed line is skipped, the feed goes on */ }
  }
  return () => { es.close() }
}

/**
 * The page's side of /api: read-only control calls (the same methods and result types as the CLI)
 * and the live event feed. A 401 means the session is gone; the page then asks for a new link.
 */
import type { NetworkStatus } from '../../network/types.js'
import type { SwarmStatus } from '../../swarm/swarm.js'
import type { VpnStatus } from '../../vpn/types.js'
import type { DmsnetApi, NodeEvent, NodeStatus } from '../../control/catalogue/index.js'
import type { ResultOf } from '../../control/spec.js'
import type { UiMethod } from '../server.js'

export type { NetworkStatus, SwarmStatus, VpnStatus, NodeEvent, NodeStatus }

/** A method's result, as the control catalogue declares it. */
export type Result<M extends UiMethod> = ResultOf<DmsnetApi[M]>

export class ApiError extends Error {
  static override name = 'ApiError'
  constructor (readonly errorName: string, message: string, readonly status: number) {
    super(message)
  }
}

/** Calls one of the read-only methods the page may use (server.ts UI_METHODS); typed by the catalogue. */
export async function call<M extends UiMethod> (method: M, params: Record<string, unknown> = {}): Promise<Result<M>> {
  const res = await fetch('/api/call', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ method, params }),
    credentials: 'same-origin'
  })
  const body = await res.json().catch(() => ({})) as { result?: Result<M>, error?: { name: string, message: string } }
  if (!res.ok || body.error != null) throw new ApiError(body.error?.name ?? 'Error', body.error?.message ?? `HTTP ${res.status}`, res.status)
  return body.result as Result<M>
}

/** Calls a method a disabled module may not offer: undefined instead of an error. */
export async function optional<M extends UiMethod> (method: M): Promise<Result<M> | undefined> {
  try {
    return await call(method)
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

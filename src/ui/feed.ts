/**
 * The status page's event feed: one consumer of the `node.events` control stream (the one
 * `dmsnet events` reads) fanned out to every open page, with the last events kept so a page that
 * opens (or reconnects) sees what happened just before. Both the backlog and each listener's
 * share are bounded by the caller (server.ts drops a browser that stops reading).
 */
import type { NodeEvent } from '../control/catalogue/index.js'
import type { MethodRegistry } from '../control/registry.js'

export interface EventFeed {
  /** Oldest first. */
  recent: () => NodeEvent[]
  subscribe: (listener: (e: NodeEvent) => void) => () => void
  stop: () => void
}

export function startEventFeed (registry: MethodRegistry, options: { method?: string, keep?: number, onError?: (err: unknown) => void } = {}): EventFeed {
  const keep = options.keep ?? 100
  const backlog: NodeEvent[] = []
  const listeners = new Set<(e: NodeEvent) => void>()
  const controller = new AbortController()
  const entry = registry.get(options.method ?? 'node.events')

  if (entry.kind === 'stream') {
    void (async () => {
      for await (const ev of entry.handler({}, { signal: controller.signal })) {
        const e = ev as NodeEvent
        backlog.push(e)
        if (backlog.length > keep) backlog.shift()
        for (const l of listeners) l(e)
      }
    })().catch(err => { if (!controller.signal.aborted) options.onError?.(err) })
  }

  return {
    recent: () => [...backlog],
    subscribe (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    stop () {
      controller.abort()
      listeners.clear()
    }
  }
}

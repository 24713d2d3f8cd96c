/**
 * Counters of the messaging module: prom-client metrics in a caller-given registry (optional),
 * the plain `stats()` object, and drop logging limited to once per (peer, reason) per interval so a
 * misbehaving peer cannot flood the log.
 */
import { Counter, type Registry } from 'prom-client'
import type { DropReason, MessagingLogger, MessagingStats } from './types.js'

function counter (registry: Registry | undefined, name: string, help: string, labelNames: string[] = []): Counter<string> | undefined {
  if (registry == null) return undefined
  // Several nodes in one process may share a registry: reuse the metric, never register twice.
  const existing = registry.getSingleMetric(name)
  if (existing != null) return existing as Counter<string>
  return new Counter({ name, help, labelNames, registers: [registry] })
}

export class MessagingMetrics {
  readonly stats: Omit<MessagingStats, 'inFlight' | 'outboundStreams' | 'inboundStreams' | 'replayCacheSize' | 'inboundInFlightBytes' | 'inboundBufferedBytes' | 'replayCache'> = {
    sent: 0, acked: 0, sendFailed: 0, received: 0, published: 0, delivered: 0, dropped: {}
  }

  private readonly dropped?: Counter<string>
  private readonly sent?: Counter<string>
  private readonly received?: Counter<string>
  private readonly lastLogged = new Map<string, { at: number, suppressed: number }>()

  constructor (registry: Registry | undefined, private readonly logger: MessagingLogger | undefined, private readonly logIntervalMs: number) {
    this.dropped = counter(registry, 'dmsnet_messages_dropped_total', 'Incoming messages dropped or refused, by reason', ['reason'])
    this.sent = counter(registry, 'dmsnet_messages_sent_total', 'Direct messages sent', ['result'])
    this.received = counter(registry, 'dmsnet_messages_received_total', 'Direct messages received and dispatched')
  }

  onSent (ok: boolean): void {
    this.stats.sent++
    if (ok) this.stats.acked++
    else this.stats.sendFailed++
    this.sent?.inc({ result: ok ? 'acked' : 'failed' })
  }

  onReceived (): void {
    this.stats.received++
    this.received?.inc()
  }

  onDrop (peer: string, reason: DropReason, detail?: string): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1
    this.dropped?.inc({ reason })
    if (this.logger == null) return
    const key = `${peer}\0${reason}`
    const now = Date.now()
    const last = this.lastLogged.get(key)
    if (last != null && now - last.at < this.logIntervalMs) {
      last.suppressed++
      return
    }
    if (this.lastLogged.size > 10_000) this.lastLogged.clear()
    this.lastLogged.set(key, { at: now, suppressed: 0 })
    this.logger.warn({ peer, reason, detail, suppressedSinceLast: last?.suppressed ?? 0 }, 'dropped message')
  }
}

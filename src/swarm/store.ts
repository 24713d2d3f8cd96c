/**
 * The swarm manager's state holder: the one path every state change goes through.
 *
 * `update(fn)` applies a synchronous change to the state, recomputes the live allow-list the
 * network's gater reads, and queues a write of the resulting snapshot; writes run one after
 * another with async fs (never blocking the event loop) and `update` resolves once its snapshot
 * is on disk. Long multi-step operations (join, rotate, recover...) are serialised separately by
 * `op()`; they change state only through `update`, so a short change (a pushed key, a redeemed
 * invite) never waits behind a long operation and never interleaves with another change.
 */
import { writeSwarmStateAsync, type SwarmState } from './state.js'
import type { Logger } from '../logging.js'
import { createSerialQueue } from '../util/serial.js'

export class SwarmStore {
  state?: SwarmState
  /** Live allow-list handed to every swarm profile; the network's gater reads it on each check. */
  readonly allowed = new Set<string>()
  /** Member: may peers other than the creator be admitted (a fresh membership statement is held)? */
  private trustMembers = false
  private readonly writes = createSerialQueue()
  private readonly ops = createSerialQueue()

  constructor (readonly file: string, private readonly log: Logger) {}

  /** Replaces the whole state (create, join, load) through the same path. */
  async replace (state: SwarmState | undefined): Promise<void> {
    this.state = state
    await this.commit()
  }

  /** Applies `fn` to the current state (if any), refreshes the allow-list and persists. */
  async update (fn: (s: SwarmState) => void): Promise<void> {
    const s = this.state
    if (s == null) return
    fn(s)
    await this.commit()
  }

  /** Member: admit authorised peers (true) or the creator only (false: no fresh statement). */
  setTrustMembers (trust: boolean): void {
    this.trustMembers = trust
    this.refreshAllowed()
  }

  get trustsMembers (): boolean {
    return this.trustMembers
  }

  /** Serialises multi-step operations (create, join, leave, rotate, recover...). */
  op<T> (fn: () => Promise<T>): Promise<T> {
    return this.ops.run(fn)
  }

  /** Resolves once every queued operation and write has finished. */
  async idle (): Promise<void> {
    await this.ops.idle()
    await this.writes.idle()
  }

  private refreshAllowed (): void {
    this.allowed.clear()
    const s = this.state
    if (s == null) return
    this.allowed.add(s.creator)
    if (s.role === 'creator' || this.trustMembers) for (const p of s.authorised) this.allowed.add(p)
  }

  private async commit (): Promise<void> {
    this.refreshAllowed()
    const s = this.state
    if (s == null) return
    const snapshot = structuredClone(s)
    const write = this.writes.run(async () => { await writeSwarmStateAsync(this.file, snapshot) })
    write.catch((err: unknown) => { this.log.error({ err, file: this.file }, 'could not write the swarm state file') })
    await write
  }
}

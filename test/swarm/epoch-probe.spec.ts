/**
 * The epoch probe's timing logic (epoch-probe.ts) with an in-memory probe function: one probe per
 * loss of the creator, the epoch held at that moment passed on, failures retried with growing
 * waits and given up after a bounded number of attempts, watchdog triggers rate-limited.
 * The probe on real nodes: missed-rotation.spec.ts.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createLogger } from '../../src/logging.js'
import { EpochProbe } from '../../src/swarm/epoch-probe.js'
import { SwarmStore } from '../../src/swarm/store.js'
import { DialError } from '../../src/errors.js'
import { pause, waitFor } from '../helpers/wait.js'

const dir = mkdtempSync(join(tmpdir(), 'dmsnet-epoch-probe-'))
const log = createLogger('test', 'silent')

async function storeAt (epoch: number): Promise<SwarmStore> {
  const store = new SwarmStore(join(dir, `state-${Math.random()}.json`), log)
  await store.replace({ version: 1, name: 's', role: 'member', creator: 'c', epoch, psk: '0'.repeat(64), authorised: [], bootstrap: [], keyService: [], joined: true, invites: [] })
  return store
}

describe('swarm epoch probe: when a member asks the key service', () => {
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('refuses a delay that is not a finite number >= 0 (InvalidArgumentError), takes 0', async () => {
    const store = await storeAt(1)
    const probe = async (): Promise<'moved'> => 'moved'
    for (const delayMs of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new EpochProbe({ store, log, delayMs, probe }), { name: 'InvalidArgumentError' })
    }
    assert.ok(new EpochProbe({ store, log, delayMs: 0, probe }))
  })

  it('probes once per loss with the epoch held then; a second loss while one is due adds nothing', async () => {
    const store = await storeAt(3)
    const seen: number[] = []
    const probe = new EpochProbe({ store, log, delayMs: 20, probe: async (e) => { seen.push(e); return 'moved' } })
    probe.creatorLost()
    probe.creatorLost()
    await store.update(s => { s.epoch = 4 }) // a switch after the loss: the probe still names 3
    await waitFor(() => probe.stats.moved === 1, 5000, 'the probe ran')
    await pause(100) // a period in which a second probe must NOT run (the positive control above ran)
    assert.deepEqual(seen, [3])
    assert.deepEqual(probe.stats, { runs: 1, moved: 1, failed: 0 })
    probe.stop()
  })

  it('an unreachable key service is retried with growing waits, at most maxAttempts times', async () => {
    const store = await storeAt(1)
    const at: number[] = []
    const probe = new EpochProbe({ store, log, delayMs: 20, maxAttempts: 3, probe: async () => { at.push(Date.now()); throw new DialError('key service unreachable') } })
    probe.creatorLost()
    await waitFor(() => probe.stats.failed === 3, 5000, 'three failed attempts')
    await pause(300) // longer than the next backoff (160 ms): no fourth attempt may come
    assert.equal(at.length, 3)
    assert.ok(at[2]! - at[1]! > at[1]! - at[0]!, `waits grow: ${at[1]! - at[0]!} then ${at[2]! - at[1]!} ms`)
    // given up, not stopped: the next loss of the creator probes again
    probe.creatorLost()
    await waitFor(() => probe.stats.failed === 4, 5000, 'a fresh attempt after a new loss')
    probe.stop()
  })

  it('the watchdog starts a probe only when none ran within minIntervalMs; stop() cancels a due one', async () => {
    const store = await storeAt(1)
    let runs = 0
    const probe = new EpochProbe({ store, log, delayMs: 10, minIntervalMs: 60_000, probe: async () => { runs++; return 'current' } })
    probe.creatorLost(true) // none ran yet: allowed
    await waitFor(() => runs === 1, 5000, 'the first watchdog probe')
    probe.creatorLost(true) // one ran just now: rate-limited
    probe.creatorLost() // a real loss of the creator is never rate-limited
    await waitFor(() => runs === 2, 5000, 'the probe for the loss')
    probe.stop()
    probe.creatorLost()
    await pause(100) // after stop(), nothing may run (the two runs above show it would have)
    assert.equal(runs, 2)
  })
})

/**
 * Two idle connected nodes stay quiet: after a warm-up they exchange at most a few DHT RPCs per
 * minute. Real daemons (`createNode` with the default config and modules, as `dmsnet up` runs
 * them) over loopback TCP, counted with kad-dht's own metrics.
 *
 * This fails while libp2p's random walk runs DHT lookups back to back (the relay client's relay
 * discovery in a network without a relay server; issue 10, src/network/paced-walk.ts): then the
 * nodes exchanged ~160 FIND_NODE RPCs per second each way.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { startDaemon, type Daemon } from '../cli/helpers.js'
import { pause } from '../helpers/wait.js'

const WARMUP_MS = Number(process.env.DMSNET_IDLE_WARMUP_MS ?? 20_000)
const WINDOW_MS = Number(process.env.DMSNET_IDLE_WINDOW_MS ?? 45_000)
/**
 * "A few per minute". One round of the paced walk costs each node ~2 RPCs (its own FIND_NODE and
 * the peer's; src/network/addressed-walk.ts spares the findPeer libp2p would add per result); the
 * backoff (pauses 10, 20, 40, 80 s... from the start) fits at most two rounds in a 45 s window
 * after 20 s, about 11 per minute, falling to ~1 per minute once the pause reaches 5 minutes.
 * The upstream bug this guards against made ~10,000 per minute.
 */
const MAX_RPCS_PER_MIN = 12

/** Sum of every sample of the metrics named `names` in a Prometheus text page. */
export function sumSamples (text: string, names: string[]): number {
  let n = 0
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (m != null && names.includes(m[1]!)) n += Number(m[3])
  }
  return n
}

/** DHT RPCs this daemon sent plus those it answered, over every message type, from its /metrics. */
async function dhtRpcs (d: Daemon): Promise<number> {
  const url = /^metrics:\s+(\S+)/m.exec(d.stdout())?.[1] ?? assert.fail(`no metrics url in: ${d.stdout()}`)
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text()
  return sumSamples(text, ['libp2p_kad_dht_inbound_rpc_requests_total', 'libp2p_kad_dht_outbound_rpc_requests_total'])
}

async function connectedPeers (d: Daemon): Promise<number> {
  const url = /^metrics:\s+(\S+)/m.exec(d.stdout())![1]!
  return sumSamples(await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text(), ['dmsnet_peers_connected'])
}

describe('idle nodes', () => {
  it('two idle connected daemons exchange at most a few DHT RPCs per minute after warm-up', { timeout: WARMUP_MS + WINDOW_MS + 120_000 }, async (t) => {
    const daemons: Daemon[] = []
    t.after(async () => {
      await Promise.allSettled(daemons.map(async d => await d.stop()))
    })
    const up = async (name: string, extra: string[]): Promise<Daemon> => {
      const dir = await mkdtemp(join(tmpdir(), `dmsnet-idle-${name}-`))
      t.after(async () => { await rm(dir, { recursive: true, force: true }) })
      // the shipped defaults (relay client, AutoNAT, DCUtR, every module): only the addresses are pinned to loopback
      const d = await startDaemon(['-d', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--metrics-port', '0', ...extra])
      daemons.push(d)
      return d
    }
    const a = await up('a', [])
    const addr = /^listen:\s+(\S+)/m.exec(a.stdout())?.[1] ?? assert.fail(`no listen address in: ${a.stdout()}`)
    const b = await up('b', ['--bootstrap', addr])
    for (const d of [a, b]) {
      const deadline = Date.now() + 20_000
      while (await connectedPeers(d) < 1) {
        assert.ok(Date.now() < deadline, 'the daemons did not connect within 20 s')
        await pause(200) // polling interval of a bounded wait for a condition
      }
    }

    await pause(WARMUP_MS) // not a wait for an event: the warm-up the measurement excludes
    const before = [await dhtRpcs(a), await dhtRpcs(b)]
    // positive control: the counters are wired (the bootstrap and the first lookups counted)
    assert.ok(before[0]! > 0 && before[1]! > 0, `kad-dht RPC counters did not move during warm-up: ${before.join(', ')}`)

    await pause(WINDOW_MS) // not a wait for an event: the idle window being measured
    assert.equal(await connectedPeers(a), 1, 'the daemons stayed connected through the window')
    const after = [await dhtRpcs(a), await dhtRpcs(b)]
    const perMin = after.map((x, i) => (x - before[i]!) * 60_000 / WINDOW_MS)
    t.diagnostic(`DHT RPCs per minute after warm-up: a ${perMin[0]!.toFixed(1)}, b ${perMin[1]!.toFixed(1)} (warm-up totals ${before.join(', ')})`)
    for (const [i, rate] of perMin.entries()) {
      assert.ok(rate <= MAX_RPCS_PER_MIN, `daemon ${i === 0 ? 'a' : 'b'}: ${rate.toFixed(1)} DHT RPCs per minute after warm-up (max ${MAX_RPCS_PER_MIN})`)
    }
  })
})

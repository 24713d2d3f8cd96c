/**
 * Unit tests of the scale bench's link model (pure logic, fake clock): site RTT matrix, the delay
 * line's per-pair delay, loss fraction, uplink rate cap with tail drop, and the timer wheel
 * delivering each packet in the tick it is due and not before.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DelayLine, ipv4Destination, ipv4ToNumber, seededRandom, siteRttMatrix } from '../../bench/_lib/scale-delayline.js'

const pkt = (n = 100): Uint8Array => new Uint8Array(n)

test('scale links: the site RTT matrix is symmetric, within range, and covers both ends', () => {
  const m = siteRttMatrix({ sites: 6, minMs: 20, maxMs: 80, intraMs: 2, seed: 3 })
  for (let a = 0; a < 6; a++) {
    assert.equal(m[a]![a], 2)
    for (let b = 0; b < 6; b++) {
      assert.equal(m[a]![b], m[b]![a])
      if (a !== b) assert.ok(m[a]![b]! >= 20 && m[a]![b]! <= 80, `rtt ${a}-${b} = ${m[a]![b]}`)
    }
  }
  const off = m.flatMap((r, a) => r.filter((_, b) => a !== b))
  assert.equal(Math.min(...off), 20)
  assert.equal(Math.max(...off), 80)
  assert.deepEqual(siteRttMatrix({ sites: 6, minMs: 20, maxMs: 80, intraMs: 2, seed: 3 }), m, 'same seed, same matrix')
  assert.throws(() => siteRttMatrix({ sites: 0, minMs: 20, maxMs: 80, intraMs: 2, seed: 1 }), { name: 'RangeError' })
  assert.throws(() => siteRttMatrix({ sites: 3, minMs: 80, maxMs: 20, intraMs: 2, seed: 1 }), { name: 'RangeError' })
})

test('scale links: a packet is held for exactly its pair\'s one-way delay, grouped by destination', () => {
  const delay = [[1, 10], [10, 1]]
  const line = new DelayLine({ oneWayMs: (a, b) => delay[a]![b]!, loss: 0, rateBitsPerSec: 0, maxQueueMs: 100, random: Math.random })
  const p1 = pkt()
  const p2 = pkt()
  const p3 = pkt()
  assert.equal(line.push(0, 1, p1, 1000), 'held')
  assert.equal(line.push(0, 1, p2, 1000.5), 'held')
  assert.equal(line.push(1, 1, p3, 1000), 'held')
  assert.equal(line.nextDue(), 1001)
  assert.equal(line.due(1000).size, 0, 'nothing before its time')
  assert.deepEqual([...line.due(1001).get(1)!], [p3])
  assert.equal(line.due(1009).size, 0)
  assert.equal(line.nextDue(), 1010)
  const out = line.due(1011)
  assert.deepEqual(out.get(1), [p1, p2], 'both due by 1011, in push order')
  assert.equal(line.stats.held, 0)
  assert.equal(line.nextDue(), undefined)
  assert.equal(line.stats.delivered, 3)
})

test('scale links: loss drops about the configured fraction, independently per packet', () => {
  const line = new DelayLine({ oneWayMs: () => 5, loss: 0.05, rateBitsPerSec: 0, maxQueueMs: 100, random: seededRandom(42) })
  for (let i = 0; i < 20_000; i++) line.push(0, 1, pkt(), i / 10)
  const frac = line.stats.lost / line.stats.pushed
  assert.ok(frac > 0.04 && frac < 0.06, `lost ${frac}`)
  const delivered = [...line.due(10_000).values()].reduce((s, l) => s + l.length, 0)
  assert.equal(delivered + line.stats.lost, 20_000, 'every packet is either delivered or counted lost')
})

test('scale links: the uplink cap serialises packets and tail-drops past the queue limit', () => {
  // 1 Mbit/s: a 1250-byte packet takes 10 ms on the wire; queue up to 30 ms
  const line = new DelayLine({ oneWayMs: () => 0, loss: 0, rateBitsPerSec: 1e6, maxQueueMs: 30, random: Math.random })
  const results = Array.from({ length: 6 }, () => line.push(0, 1, pkt(1250), 0))
  // departures at 10, 20, 30, 40 ms (the 4th waited 30 ms: the limit), then the queue is full
  assert.deepEqual(results, ['held', 'held', 'held', 'held', 'overflow', 'overflow'])
  assert.equal(line.stats.overflow, 2)
  assert.equal(line.due(9).size, 0)
  assert.equal(line.due(10).get(1)?.length, 1)
  assert.equal(line.due(39).get(1)?.length, 2)
  assert.equal(line.due(40).get(1)?.length, 1)
  // another sender has its own uplink
  assert.equal(line.push(2, 1, pkt(1250), 0), 'held')
})

test('scale links: a delay beyond the wheel is refused, not wrapped around', () => {
  const line = new DelayLine({ oneWayMs: () => 500, loss: 0, rateBitsPerSec: 0, maxQueueMs: 10, random: Math.random, wheelSlots: 256 })
  assert.equal(line.push(0, 1, pkt(), 0), 'too-late')
  assert.equal(line.stats.tooLate, 1)
  assert.equal(line.nextDue(), undefined)
})

test('scale links: a long stall delivers everything held, once', () => {
  const line = new DelayLine({ oneWayMs: (a) => a === 0 ? 3 : 200, loss: 0, rateBitsPerSec: 0, maxQueueMs: 10, random: Math.random, wheelSlots: 256 })
  line.push(0, 1, pkt(), 0)
  line.push(1, 0, pkt(), 0)
  const out = line.due(100_000)
  assert.equal(out.get(1)?.length, 1)
  assert.equal(out.get(0)?.length, 1)
  assert.equal(line.due(200_000).size, 0)
})

test('scale links: IPv4 destinations are read from the header; anything else is not routable', () => {
  const v4 = new Uint8Array(20)
  v4[0] = 0x45
  v4.set([10, 99, 1, 30], 16)
  assert.equal(ipv4Destination(v4), ipv4ToNumber('10.99.1.30'))
  const v6 = new Uint8Array(40)
  v6[0] = 0x60
  assert.equal(ipv4Destination(v6), undefined)
  assert.equal(ipv4Destination(new Uint8Array(10)), undefined)
  assert.throws(() => ipv4ToNumber('10.99.1'), { name: 'RangeError' })
})

test('scale links: a late wakeup is counted as extra hold time, and the queue depth peak is kept', () => {
  const line = new DelayLine({ oneWayMs: () => 10, loss: 0, rateBitsPerSec: 0, maxQueueMs: 100, random: Math.random })
  line.push(0, 1, pkt(), 1000)
  line.push(0, 1, pkt(), 1000)
  line.push(0, 1, pkt(), 1005)
  assert.equal(line.stats.heldMax, 3)
  // on time: the first two are due at 1010 and read at 1010
  assert.equal(line.due(1010).get(1)!.length, 2)
  assert.equal(line.stats.lateSumMs, 0)
  assert.equal(line.stats.late5ms, 0)
  // the third is due at 1015 but the wakeup comes at 1030: 15 ms beyond its configuration
  assert.equal(line.due(1030).get(1)!.length, 1)
  assert.equal(line.stats.lateMaxMs, 15)
  assert.equal(line.stats.lateSumMs, 15)
  assert.equal(line.stats.late5ms, 1)
  assert.equal(line.stats.heldMax, 3, 'the peak stays after the line drains')
})

test('scale links: time spent behind the uplink cap is counted apart from lateness', () => {
  // 1 Mbit/s: a 1250-byte packet takes 10 ms; the second waits 10 ms behind the first
  const line = new DelayLine({ oneWayMs: () => 0, loss: 0, rateBitsPerSec: 1e6, maxQueueMs: 100, random: Math.random })
  line.push(0, 1, pkt(1250), 0)
  line.push(0, 1, pkt(1250), 0)
  assert.equal(line.stats.queueWaitMaxMs, 10)
  assert.equal(line.stats.queueWaitSumMs, 10)
})

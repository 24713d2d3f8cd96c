/**
 * UDP coalescing on offload TUNs (native/tun/udp_gro.c), on real devices in namespaces the test
 * makes: datagrams of one flow read from a TUN come out as GSO_UDP_L4 records, a batch of single
 * datagrams is merged before it is written, and the kernel splits either back into the very same
 * datagrams with correct checksums. The checksums are checked by forwarding through a third TUN
 * without offloads, where the kernel must segment and checksum in software before we read them.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { test, type TestContext } from 'node:test'
import { createTun, type TunDevice } from '../../src/netdev/tun.js'
import { buildBatch, iterateRecords, parseVnetHeader, VNET_HDR_GSO_UDP_L4, VNET_HDR_LEN } from '../../src/netdev/records.js'
import { netnsFixture, type NetnsFixture } from '../helpers/netns.js'
import { requireRoot } from '../helpers/root.js'
import { checksum, ipv4, parseIpv4 } from './packets.js'
import { pause } from '../helpers/wait.js'

const SIZE = 1200
const PORT = 5599

/** The payload of datagram `i` of a flow: its number, then a pattern that depends on it. */
function payloadOf (i: number, size = SIZE): Uint8Array {
  const p = new Uint8Array(size)
  new DataView(p.buffer).setUint32(0, i)
  for (let k = 4; k < size; k++) p[k] = (i * 7 + k) & 0xff
  return p
}

interface Seen { seq: number, ok: boolean, id: number, why?: string }

/** Checks one plain IPv6/UDP packet (UDP right after the fixed header): UDP checksum, payload. */
function checkPlain6 (pkt: Uint8Array): Seen {
  const udp = pkt.subarray(40, 40 + ((pkt[4]! << 8) | pkt[5]!))
  let pseudo = 17 + udp.byteLength
  for (let i = 8; i < 40; i += 2) pseudo += (pkt[i]! << 8) | pkt[i + 1]!
  if (checksum(udp, 0, udp.byteLength, pseudo) !== 0) return { seq: -1, ok: false, id: -1, why: 'bad UDP checksum' }
  const data = udp.subarray(8)
  const seq = new DataView(data.buffer, data.byteOffset).getUint32(0)
  const ok = Buffer.compare(Buffer.from(data), Buffer.from(payloadOf(seq, data.byteLength))) === 0
  return { seq, ok, id: -1, why: ok ? undefined : 'payload differs' }
}

/** Checks one plain IPv4/UDP packet read from the non-offload TUN: header and UDP checksums, payload. */
function checkPlain (pkt: Uint8Array): Seen {
  const ip = parseIpv4(pkt)
  const id = (pkt[4]! << 8) | pkt[5]!
  if (ip.version !== 4 || ip.protocol !== 17) return { seq: -1, ok: false, id, why: 'not IPv4/UDP' }
  if (checksum(pkt, 0, ip.headerLen) !== 0) return { seq: -1, ok: false, id, why: 'bad IPv4 header checksum' }
  const udp = pkt.subarray(ip.headerLen, ip.totalLen)
  let pseudo = 0
  for (let i = 12; i < 20; i += 2) pseudo += (pkt[i]! << 8) | pkt[i + 1]!
  pseudo += 17 + udp.byteLength
  if (checksum(udp, 0, udp.byteLength, pseudo) !== 0) return { seq: -1, ok: false, id, why: 'bad UDP checksum' }
  const data = udp.subarray(8)
  const seq = new DataView(data.buffer, data.byteOffset).getUint32(0)
  const ok = Buffer.compare(Buffer.from(data), Buffer.from(payloadOf(seq, data.byteLength))) === 0
  return { seq, ok, id, why: ok ? undefined : 'payload differs' }
}

interface World { a: string, b: string, ta: TunDevice, tb: TunDevice, tc: TunDevice, seen: Seen[] }

/**
 * ns A: offload TUN 10.79.0.1 / fd79::1 (routes 10.79.1.0/24 and fd79:1::/64 into it). ns B:
 * offload TUN 10.79.0.2 / fd79::2 and a plain TUN towards 10.79.1.2 / fd79:1::2, forwarding on. Batches read from A's TUN are written to B's as they
 * are (as the VPN does); what the plain TUN reads is checked packet by packet.
 */
async function world (t: TestContext, net: NetnsFixture, bOptions: { udpWriteSegments?: number, udpWriteCoalesce?: boolean, udpWriteYield?: boolean | 'always' | 'nap' | 'adaptive', udpYieldLongUs?: number } = {}): Promise<World> {
  const a = await net.namespace('ga')
  const b = await net.namespace('gb')
  const ta = await createTun({ name: net.ifname('ga'), netns: a, offload: true, mtu: 1500, addresses: ['10.79.0.1/24'] })
  t.after(async () => { await ta.close() })
  const tb = await createTun({ name: net.ifname('gb'), netns: b, offload: true, mtu: 1500, addresses: ['10.79.0.2/24'], ...bOptions })
  t.after(async () => { await tb.close() })
  const tc = await createTun({ name: net.ifname('gc'), netns: b, mtu: 1500, addresses: ['10.79.1.1/24'] })
  t.after(async () => { await tc.close() })
  await net.exec(a, 'ip', ['route', 'add', '10.79.1.0/24', 'dev', ta.name])
  await net.exec(b, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1'])
  // IPv6 without duplicate address detection, so the addresses work at once
  await net.exec(a, 'ip', ['-6', 'addr', 'add', 'fd79::1/64', 'dev', ta.name, 'nodad'])
  await net.exec(b, 'ip', ['-6', 'addr', 'add', 'fd79::2/64', 'dev', tb.name, 'nodad'])
  await net.exec(b, 'ip', ['-6', 'addr', 'add', 'fd79:1::1/64', 'dev', tc.name, 'nodad'])
  await net.exec(a, 'ip', ['-6', 'route', 'add', 'fd79:1::/64', 'dev', ta.name])
  const seen: Seen[] = []
  tc.onBatch(batch => {
    for (const rec of iterateRecords(batch)) {
      // the kernel's own traffic on a fresh link (IPv6 router solicitations, MLD) is not ours
      const ip = parseIpv4(rec)
      if (ip.version === 4 && ip.protocol === 17 && ((rec[ip.headerLen + 2]! << 8) | rec[ip.headerLen + 3]!) === PORT) seen.push(checkPlain(rec))
      if (ip.version === 6 && rec[6] === 17 && ((rec[42]! << 8) | rec[43]!) === PORT) seen.push(checkPlain6(rec))
    }
  })
  return { a, b, ta, tb, tc, seen }
}

async function until (cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await pause(10) // polling interval of a bounded wait for a condition
  }
}

function assertAllIntact (seen: Seen[], n: number): void {
  const bad = seen.filter(s => !s.ok)
  assert.equal(bad.length, 0, `bad packets: ${JSON.stringify(bad.slice(0, 3))}`)
  const seqs = seen.map(s => s.seq)
  assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i), 'every datagram once, in order')
}

test('udp coalescing: IPv4 and IPv6 datagrams read from an offload TUN become GSO_UDP_L4 records; the peer writes them cut to datagrams, to 5-segment records, or whole, and they arrive intact', async t => {
  if (!requireRoot(t)) return
  for (const [family, segs] of [[4, 1], [4, 5], [4, 0], [6, 1], [6, 0]] as const) {
    const net = netnsFixture(t)
    const w = await world(t, net, { udpWriteSegments: segs })
    assert.equal(w.ta.udpCoalesce, true, 'the kernel took USO4/USO6')
    assert.equal(w.tc.udpCoalesce, false, 'no coalescing without offloads')
    let gsoRecords = 0
    w.ta.onBatch(batch => {
      for (const rec of iterateRecords(batch)) if (parseVnetHeader(rec).gsoType === VNET_HDR_GSO_UDP_L4) gsoRecords++
      w.tb.writeBatch(batch)
    })
    const n = 400
    // bursts of 50 back to back, so the device queue holds several datagrams of the flow at a time
    const script = `const s=require('dgram').createSocket('udp${family}');const N=${n},S=${SIZE};
function pl(i){const p=Buffer.alloc(S);p.writeUInt32BE(i,0);for(let k=4;k<S;k++)p[k]=(i*7+k)&255;return p}
s.connect(${PORT},'${family === 4 ? '10.79.1.2' : 'fd79:1::2'}',async()=>{for(let i=0;i<N;){for(let j=0;j<50&&i<N;j++,i++)s.send(pl(i));await new Promise(r=>setTimeout(r,20))}setTimeout(()=>s.close(),200)})`
    const sender = spawn('ip', ['netns', 'exec', w.a, process.execPath, '-e', script], { stdio: ['ignore', 'ignore', 'inherit'] })
    t.after(() => { sender.kill() })
    await until(() => w.seen.length >= n, `${n} IPv${family} datagrams at the plain TUN (have ${w.seen.length}, segments ${segs})`)
    assertAllIntact(w.seen, n)
    const sa = w.ta.stats
    const sb = w.tb.stats
    assert.ok((sa.rxCoalesced ?? 0) > 0 && gsoRecords > 0, `datagrams were merged on read: ${JSON.stringify(sa)} gso records ${gsoRecords}`)
    if (segs === 0) assert.equal(sb.txSplit, 0, 'written whole')
    else assert.ok((sb.txSplit ?? 0) > gsoRecords, `GSO records were cut before the write: ${JSON.stringify(sb)}`)
    // one write per datagram when cut to 1; fewer writes than datagrams when written whole
    if (segs === 1) assert.ok(sb.txPackets >= n, `one write per datagram: ${JSON.stringify(sb)}`)
    if (segs === 0) assert.ok(sb.txPackets < n, `GSO records written whole: ${JSON.stringify(sb)}`)
    assert.equal(sb.txErrors, 0)
    await net.cleanup()
  }
})

/** A datagram as an offload TUN hands it out: NEEDS_CSUM header, the pseudo-header sum in the UDP checksum field. */
function partialRecord (seq: number, id: number, size = SIZE): Uint8Array {
  const payload = payloadOf(seq, size)
  const total = 20 + 8 + size
  const rec = new Uint8Array(VNET_HDR_LEN + total)
  rec[0] = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
  rec[6] = 20 // csum_start
  rec[8] = 6 // csum_offset
  const p = rec.subarray(VNET_HDR_LEN)
  p[0] = 0x45; p[2] = total >> 8; p[3] = total & 0xff; p[4] = id >> 8; p[5] = id & 0xff; p[6] = 0x40; p[8] = 64; p[9] = 17
  p.set(ipv4('10.79.0.1'), 12); p.set(ipv4('10.79.1.2'), 16)
  const c = checksum(p, 0, 20)
  p[10] = c >> 8; p[11] = c & 0xff
  const ulen = 8 + size
  p[20] = 0x30; p[21] = 0x39; p[22] = PORT >> 8; p[23] = PORT & 0xff; p[24] = ulen >> 8; p[25] = ulen & 0xff
  let pseudo = 17 + ulen
  for (let i = 12; i < 20; i += 2) pseudo += (p[i]! << 8) | p[i + 1]!
  while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16)
  p[26] = pseudo >> 8; p[27] = pseudo & 0xff
  p.set(payload, 28)
  return rec
}

test('udp coalescing: a written batch of single datagrams is merged (GRO) and arrives intact; full-checksum datagrams are left alone', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const w = await world(t, net, { udpWriteCoalesce: true })
  // positive: 30 datagrams of one flow, consecutive ids, the last one shorter
  const recs = Array.from({ length: 30 }, (_, i) => partialRecord(i, 1000 + i, i === 29 ? 300 : SIZE))
  assert.equal(w.tb.writeBatch(buildBatch(recs)), 30)
  await until(() => w.seen.length >= 30, 'the 30 merged datagrams')
  assertAllIntact(w.seen, 30)
  assert.deepEqual(w.seen.map(s => s.id), Array.from({ length: 30 }, (_, i) => 1000 + i), 'ids as sent')
  const merged = w.tb.stats.txCoalesced ?? 0
  assert.equal(merged, 29, 'one record written for the 30 datagrams')
  assert.equal(w.tb.stats.txPackets, 1)

  // negative: the same flow with full checksums (flags 0) is written one by one, never merged
  w.seen.length = 0
  const full = Array.from({ length: 10 }, (_, i) => {
    const r = partialRecord(i, 2000 + i)
    r[0] = 0; r[6] = 0; r[8] = 0
    const p = r.subarray(VNET_HDR_LEN)
    p[26] = 0; p[27] = 0
    let pseudo = 17 + p.byteLength - 20
    for (let k = 12; k < 20; k += 2) pseudo += (p[k]! << 8) | p[k + 1]!
    const uc = checksum(p, 20, p.byteLength, pseudo) || 0xffff
    p[26] = uc >> 8; p[27] = uc & 0xff
    return r
  })
  assert.equal(w.tb.writeBatch(buildBatch(full)), 10)
  await until(() => w.seen.length >= 10, 'the 10 full-checksum datagrams')
  assertAllIntact(w.seen, 10)
  assert.equal(w.tb.stats.txCoalesced, merged, 'nothing merged')
  assert.equal(w.tb.stats.txPackets, 11)
  assert.equal(w.tb.stats.txErrors, 0)
})

/** The host namespace's UDP receive-buffer drops (what the yield gate of an offload TUN looks at). */
function rcvbufErrors (): number {
  const lines = readFileSync('/proc/self/net/snmp', 'utf8').split('\n').filter(l => l.startsWith('Udp: '))
  const v4 = Number(lines[1]?.split(' ')[lines[0]!.split(' ').indexOf('RcvbufErrors')])
  const v6 = Number(/Udp6RcvbufErrors\s+(\d+)/.exec(readFileSync('/proc/self/net/snmp6', 'utf8'))?.[1])
  return v4 + v6
}

/** Makes local UDP receive-buffer drops happen: a receiver on loopback with a tiny buffer that never reads, flooded. */
async function causeRcvbufDrops (t: TestContext): Promise<void> {
  const before = rcvbufErrors()
  const rx = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,1024)\ns.bind(("127.0.0.1",0))\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { rx.kill() })
  const port = await new Promise<number>((resolve, reject) => {
    rx.stdout.once('data', (d: Buffer) => { resolve(Number(d.toString().trim())) })
    rx.once('error', reject)
  })
  const tx = createSocket('udp4')
  try {
    for (let i = 0; i < 200 && rcvbufErrors() === before; i++) {
      await new Promise<void>((resolve, reject) => { tx.send(new Uint8Array(1000), port, '127.0.0.1', err => { if (err != null) reject(err); else resolve() }) })
    }
  } finally { tx.close() }
  await until(() => rcvbufErrors() > before, 'local UDP receive-buffer drops')
  rx.kill()
}

test('udp write yield: after a GSO_UDP_L4 record the writer gives up the CPU while local receivers drop datagrams (always with "always", never when off, never after other records; "nap" as on, napping instead); the datagrams arrive intact', async t => {
  if (!requireRoot(t)) return
  for (const mode of [true, 'always', false, 'nap'] as const) {
    const net = netnsFixture(t)
    const w = await world(t, net, { udpWriteCoalesce: true, udpWriteYield: mode })
    // two flows' worth of datagrams merged into two GSO records (the id jumps between them)
    const batch = (base: number): Uint8Array => buildBatch(Array.from({ length: 40 }, (_, i) => partialRecord(i, i < 20 ? base + i : base + 2000 + i)))
    const drops0 = rcvbufErrors()
    assert.equal(w.tb.writeBatch(batch(3000)), 40)
    await until(() => w.seen.length >= 40, `the 40 datagrams (yield ${mode})`)
    assertAllIntact(w.seen, 40)
    assert.equal(w.tb.stats.txPackets, 2, 'written as two GSO records')
    const yields = w.tb.stats.txYields ?? -1
    if (mode === 'always') assert.equal(yields, 2, 'one yield after each GSO record')
    else if (mode === false || rcvbufErrors() === drops0) assert.equal(yields, 0, 'no yields: off, or no local receiver dropped anything')
    // a plain datagram (no GSO) is never followed by a yield
    w.seen.length = 0
    assert.equal(w.tb.writeBatch(buildBatch([partialRecord(0, 7000)])), 1)
    await until(() => w.seen.length >= 1, 'the single datagram')
    assert.equal(w.tb.stats.txYields, yields, 'no yield after a record that is not GSO_UDP_L4')
    if (mode === true || mode === 'nap') {
      // the positive control: local receivers drop datagrams, and the next GSO records are followed by yields
      await causeRcvbufDrops(t)
      await pause(10) // the gate looks at the drop counters at most every 5 ms
      w.seen.length = 0
      assert.equal(w.tb.writeBatch(batch(9000)), 40)
      await until(() => w.seen.length >= 40, 'the 40 datagrams after the drops')
      assertAllIntact(w.seen, 40)
      assert.ok((w.tb.stats.txReaderDrops ?? 0) >= 1, 'the gate saw the drops')
      assert.equal(w.tb.stats.txYields, yields + 2, 'one yield after each GSO record while receivers drop')
    }
    assert.equal(w.tb.stats.txErrors, 0)
    await net.cleanup()
  }
  await assert.rejects(createTun({ offload: true, udpWriteYield: 'sometimes' as unknown as boolean }), { name: 'InvalidArgumentError' })
  // the env switch takes only its documented words: a typo is an error, not "on"
  const saved = process.env.DMSNET_TUN_UDP_WRITE_YIELD
  process.env.DMSNET_TUN_UDP_WRITE_YIELD = 'of'
  try {
    await assert.rejects(createTun({ offload: true }), { name: 'InvalidArgumentError', message: /DMSNET_TUN_UDP_WRITE_YIELD/ })
  } finally {
    if (saved == null) delete process.env.DMSNET_TUN_UDP_WRITE_YIELD
    else process.env.DMSNET_TUN_UDP_WRITE_YIELD = saved
  }
})

/** What the adaptive rule (native/tun/tun.c, mode 4) does with `k` give-aways when every yield is long: yields and naps. */
function adaptiveAllLong (k: number): { yields: number, naps: number } {
  let streak = 0; let left = 0; let yields = 0; let naps = 0
  for (let i = 0; i < k; i++) {
    if (left > 0) { naps++; left--; continue }
    yields++
    if (++streak >= 2) left = 32
  }
  return { yields, naps }
}

test('udp write yield "adaptive": yields as on while local receivers drop; after two long yields in a row the next 32 give-aways are naps, then a yield probes again (a 0 us threshold: every yield long); with a 1 s threshold it never naps; every datagram arrives intact and in order', async t => {
  if (!requireRoot(t)) return
  for (const longUs of [0, 1_000_000]) {
    const net = netnsFixture(t)
    const w = await world(t, net, { udpWriteCoalesce: true, udpWriteYield: 'adaptive', udpYieldLongUs: longUs })
    // `groups` GSO records of 3 datagrams each: the id jumps between groups, so none merge across
    const batch = (base: number, groups: number): Uint8Array => buildBatch(Array.from({ length: groups * 3 }, (_, i) => partialRecord(i, base + Math.floor(i / 3) * 1000 + i)))
    // the first look at the drop counters only takes their value: the gate stays shut for this batch
    assert.equal(w.tb.writeBatch(batch(3000, 2)), 6)
    await until(() => w.seen.length >= 6, 'the first 6 datagrams')
    assertAllIntact(w.seen, 6)
    const base = { yields: w.tb.stats.txYields ?? -1, naps: w.tb.stats.txNaps ?? -1, long: w.tb.stats.txYieldsLong ?? -1 }
    assert.deepEqual(base, { yields: 0, naps: 0, long: 0 }, 'no give-away before any drop was seen')
    await causeRcvbufDrops(t)
    await pause(10) // the gate looks at the drop counters at most every 5 ms
    w.seen.length = 0
    assert.equal(w.tb.writeBatch(batch(9000, 40)), 120)
    await until(() => w.seen.length >= 120, `the 120 datagrams after the drops (threshold ${longUs} us)`)
    assertAllIntact(w.seen, 120)
    const s = w.tb.stats
    assert.equal(s.txPackets, 42, 'written as 2 + 40 GSO records')
    assert.ok((s.txReaderDrops ?? 0) >= 1, 'the gate saw the drops')
    // the gate holds 50 ms after the drops were seen: a slow machine may end it before the 40th record
    const k = s.txYields ?? 0
    t.diagnostic(`threshold ${longUs} us: ${k} give-aways, ${s.txYieldsLong} long yields, ${s.txNaps} naps (${s.txNapUs} us), ${s.txYieldUs} us in all`)
    assert.ok(k >= 3 && k <= 40, `a give-away after each GSO record while the gate is open: ${JSON.stringify(s)}`)
    if (longUs === 0) {
      const want = adaptiveAllLong(k)
      assert.equal(s.txYieldsLong, want.yields, 'every yield is long at a 0 us threshold')
      assert.equal(s.txNaps, want.naps, `naps after two long yields, a probe after 32 of them (${k} give-aways)`)
      assert.ok((s.txNaps ?? 0) >= 1)
      assert.ok((s.txNapUs ?? -1) >= 0 && (s.txNapUs ?? 0) <= (s.txYieldUs ?? 0), 'nap time is part of the give-aways\' time')
    } else {
      assert.equal(s.txYieldsLong, 0, 'no yield takes 1 s')
      assert.equal(s.txNaps, 0, 'never a nap without long yields')
    }
    assert.equal(s.txErrors, 0)
    await net.cleanup()
  }
  await assert.rejects(createTun({ offload: true, udpWriteYield: 'adaptive', udpYieldLongUs: -1 }), { name: 'InvalidArgumentError' })
  const saved = process.env.DMSNET_TUN_UDP_YIELD_LONG_US
  process.env.DMSNET_TUN_UDP_YIELD_LONG_US = '250us'
  try {
    await assert.rejects(createTun({ offload: true, udpWriteYield: 'adaptive' }), { name: 'InvalidArgumentError', message: /DMSNET_TUN_UDP_YIELD_LONG_US/ })
  } finally {
    if (saved == null) delete process.env.DMSNET_TUN_UDP_YIELD_LONG_US
    else process.env.DMSNET_TUN_UDP_YIELD_LONG_US = saved
  }
})

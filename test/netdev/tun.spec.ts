/**
 * TUN device tests on real devices inside namespaces the test creates: the kernel's packets reach
 * our batches, our written packets reach the kernel, offload mode carries GSO super-packets, bad
 * batches are refused, and close() leaves no fd behind.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, readlinkSync } from 'node:fs'
import { test } from 'node:test'
import { createTun, type TunDevice } from '../../src/netdev/tun.js'
import { buildBatch, iterateRecords, parseVnetHeader, recordPacket, VNET_HDR_GSO_NONE, VNET_HDR_LEN } from '../../src/netdev/records.js'
import { getLink } from '../../src/netdev/link.js'
import { netnsFixture } from '../helpers/netns.js'
import { requireRoot } from '../helpers/root.js'
import { waitFor } from '../helpers/wait.js'
import { echoReplyFor, parseIpv4, udpPacket } from './packets.js'

/** This process's fds open on /dev/net/tun (an fd may vanish between the listing and the readlink). */
const tunFds = (): number[] => readdirSync('/proc/self/fd').map(Number).filter(fd => {
  try { return readlinkSync(`/proc/self/fd/${fd}`) === '/dev/net/tun' } catch { return false }
}).sort((x, y) => x - y)

/** Answers every ICMP echo request the device reads, so a ping inside the namespace succeeds. */
function answerPings (tun: TunDevice, seen: Array<{ src: string, dst: string, protocol: number }>): () => void {
  return tun.onBatch(batch => {
    for (const rec of iterateRecords(batch)) {
      const pkt = recordPacket(rec, tun.offload)
      const ip = parseIpv4(pkt)
      if (ip.version !== 4) continue
      seen.push({ src: ip.src, dst: ip.dst, protocol: ip.protocol })
      if (ip.protocol === 1 && pkt[ip.headerLen] === 8) tun.write(echoReplyFor(pkt))
    }
  })
}

test('tun: kernel packets arrive in batches and written packets are delivered (ping through the device)', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('tun')
  const tun = await createTun({ name: net.ifname('tn'), netns: ns, mtu: 1420, addresses: ['10.77.0.1/24'] })
  t.after(async () => { await tun.close() })
  const link = await getLink(tun.name, { netns: ns })
  assert.equal(link?.mtu, 1420)
  assert.equal(link?.txqlen, 5000)
  assert.equal(link?.up, true)
  assert.equal(tun.offload, false)

  const seen: Array<{ src: string, dst: string, protocol: number }> = []
  answerPings(tun, seen)
  const out = await net.exec(ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.77.0.2'])
  assert.match(out, /3 received/)
  assert.ok(seen.some(p => p.protocol === 1 && p.src === '10.77.0.1' && p.dst === '10.77.0.2'), 'echo requests read from the fd')
  const s = tun.stats
  assert.ok(s.rxPackets >= 3 && s.rxBatches >= 1 && s.txPackets >= 3, JSON.stringify(s))
})

test('tun: a written UDP packet reaches a socket in the namespace', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('udp')
  const tun = await createTun({ name: net.ifname('tn'), netns: ns, addresses: ['10.77.1.1/24'] })
  t.after(async () => { await tun.close() })
  // a receiver inside the namespace: prints the first datagram and exits
  const script = "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>{console.log(r.address+' '+m.toString());process.exit(0)});s.bind(5555,'10.77.1.1',()=>console.log('ready'));setTimeout(()=>process.exit(3),10000)"
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { child.kill() })
  let out = ''
  await new Promise<void>(resolve => child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready')) resolve() }))
  const payload = new TextEncoder().encode(`hello-${process.pid}`)
  assert.equal(tun.writeBatch(buildBatch([udpPacket('10.77.1.2', 4000, '10.77.1.1', 5555, payload)])), 1)
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  assert.equal(code, 0)
  assert.match(out, new RegExp(`10\\.77\\.1\\.2 hello-${process.pid}`))
})

test('tun: offload mode round trip (vnet header on ping; TCP between two offload TUNs carries GSO super-packets)', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const a = await net.namespace('oa')
  const b = await net.namespace('ob')
  const ta = await createTun({ name: net.ifname('to'), netns: a, offload: true, mtu: 1500, addresses: ['10.78.0.1/24'] })
  t.after(async () => { await ta.close() })
  const tb = await createTun({ name: net.ifname('to'), netns: b, offload: true, mtu: 1500, addresses: ['10.78.0.2/24'] })
  t.after(async () => { await tb.close() })
  assert.equal(ta.offload, true)
  assert.equal(ta.offloadFlags & 0x7, 0x7, 'CSUM, TSO4 and TSO6 accepted')
  assert.equal((await getLink(ta.name, { netns: a }))?.gsoMaxSize, 60000)

  // 1. ping: each record starts with a 10-byte header; non-GSO; write() prepends a zero header
  const seen: Array<{ src: string, dst: string, protocol: number }> = []
  let headerOk = true
  const stop = ta.onBatch(batch => {
    for (const rec of iterateRecords(batch)) {
      if (parseVnetHeader(rec).gsoType !== VNET_HDR_GSO_NONE) continue
      const pkt = rec.subarray(VNET_HDR_LEN)
      const ip = parseIpv4(pkt)
      if (ip.version !== 4) { if (ip.version !== 6) headerOk = false; continue }
      seen.push(ip)
      if (ip.protocol === 1 && pkt[ip.headerLen] === 8) ta.write(echoReplyFor(pkt))
    }
  })
  assert.match(await net.exec(a, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.78.0.9']), /2 received/)
  assert.ok(headerOk && seen.length >= 2)
  stop()

  // 2. forward batches unchanged between the devices and move 32 MB of TCP across
  let maxRecord = 0
  let gso = 0
  ta.onBatch(batch => {
    for (const rec of iterateRecords(batch)) {
      maxRecord = Math.max(maxRecord, rec.byteLength)
      if (parseVnetHeader(rec).gsoType !== VNET_HDR_GSO_NONE) gso++
    }
    tb.writeBatch(batch)
  })
  tb.onBatch(batch => { ta.writeBatch(batch) })
  const server = spawn('ip', ['netns', 'exec', b, 'iperf3', '-s', '-1', '-B', '10.78.0.2'], { stdio: 'ignore' })
  t.after(() => { server.kill() })
  // iperf3 block-buffers its banner when not on a tty: ask the kernel whether the port listens
  await waitFor(async () => (await net.exec(b, 'ss', ['-Hltn', 'sport = :5201'])).includes('10.78.0.2:5201'), 15_000, 'iperf3 -s to listen')
  const out = await net.exec(a, 'iperf3', ['-c', '10.78.0.2', '-n', '32M', '-J'], { timeoutMs: 60_000 })
  const r = JSON.parse(out) as { end: { sum_sent: { bytes: number }, sum_received: { bytes: number } } }
  // iperf3 exits 0 only when the transfer completed; its receiver total leaves out the last partial interval
  assert.ok(r.end.sum_sent.bytes >= 32 * 1024 * 1024, `sent ${r.end.sum_sent.bytes}`)
  assert.ok(r.end.sum_received.bytes >= 24 * 1024 * 1024, `received ${r.end.sum_received.bytes}`)
  assert.ok(gso > 0, 'the kernel handed out GSO super-packets')
  assert.ok(maxRecord > 1500 + VNET_HDR_LEN, `largest record ${maxRecord} bytes exceeds the MTU`)
  assert.equal(ta.stats.txErrors + tb.stats.txErrors, 0)
})

test('tun: bad input is rejected with named errors', async t => {
  if (!requireRoot(t)) return
  await assert.rejects(createTun({ name: 'this-name-is-way-too-long' }), { name: 'InvalidInterfaceNameError' })
  await assert.rejects(createTun({ name: 'bad name' }), { name: 'InvalidInterfaceNameError' })
  await assert.rejects(createTun({ mtu: 10 }), { name: 'InvalidAddressError' })
  await assert.rejects(createTun({ addresses: ['10.0.0.1/40'] }), { name: 'InvalidAddressError' })
  await assert.rejects(createTun({ netns: '../etc' }), { name: 'InvalidNamespaceNameError' })
  await assert.rejects(createTun({ mode: 'tunnel' as 'tun' }), { name: 'InvalidArgumentError' })

  const net = netnsFixture(t)
  const ns = await net.namespace('bad')
  const tun = await createTun({ name: net.ifname('tb'), netns: ns, addresses: ['10.77.2.1/24'] })
  t.after(async () => { await tun.close() })
  const torn = buildBatch([udpPacket('10.77.2.2', 1, '10.77.2.1', 9, new Uint8Array(10))]).subarray(0, 20)
  assert.throws(() => tun.writeBatch(torn), { name: 'InvalidBatchError' })
  const huge = new Uint8Array(8)
  new DataView(huge.buffer).setUint32(0, 0xffffff)
  assert.throws(() => tun.writeBatch(huge), { name: 'InvalidBatchError' })
  assert.equal(tun.stats.txPackets, 0, 'a bad batch writes nothing')
  // a bogus but well-framed packet is refused by the kernel and counted, not a crash
  tun.writeBatch(buildBatch([new Uint8Array([0xff, 1, 2, 3])]))
  const s = tun.stats
  assert.equal(s.txPackets + s.txErrors, 1)
  await tun.close()
  assert.throws(() => tun.writeBatch(torn), { name: 'DeviceClosedError' })
})

test('tun: a failure midway leaves no device behind', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const name = net.ifname('tf')
  // the namespace does not exist: the move fails after the device was opened (and made persistent)
  await assert.rejects(createTun({ name, persist: true, netns: `dmsnet-missing-${process.pid}` }), { name: 'CommandFailedError' })
  assert.equal(await getLink(name), undefined)
})

test('tun: close() stops polling and releases the fd (no leak over many devices)', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('fd')
  // count only fds on /dev/net/tun: other fds of this process (libuv, child pipes) come and go
  const start = tunFds()
  const used: number[] = []
  for (let i = 0; i < 20; i++) {
    const tun = await createTun({ name: net.ifname('tl'), netns: ns, offload: i % 2 === 0 })
    used.push(tun.fd)
    assert.equal(tunFds().length, start.length + 1, 'the open device holds one /dev/net/tun fd')
    tun.onBatch(() => {})
    await tun.close()
    await tun.close() // idempotent
  }
  assert.deepEqual(tunFds(), start, 'every device fd was closed')
  assert.ok(used.every(fd => !start.includes(fd)))
  const names = (await net.exec(ns, 'ip', ['-o', 'link'])).split('\n').filter(l => l.includes(net.id))
  assert.deepEqual(names, [], 'non-persistent devices disappear on close')
})

test('tun: multi-queue devices open several queues; TAP mode; an abort signal after the open leaves the device open', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('mq')
  // queues attach by name in the caller's namespace, so the multi-queue device stays in ours (down, unaddressed)
  const own = net.ifname('mo')
  const a1 = await createTun({ name: own, multiQueue: true, up: false })
  t.after(async () => { await a1.close() })
  const a2 = await createTun({ name: own, multiQueue: true, up: false })
  t.after(async () => { await a2.close() })
  assert.equal(a1.name, a2.name)
  assert.notEqual(a1.fd, a2.fd)
  await a1.close()
  assert.ok(await getLink(own), 'the device lives while one queue is open')
  await a2.close()
  assert.equal(await getLink(own), undefined)

  const tap = await createTun({ name: net.ifname('tp'), mode: 'tap', netns: ns })
  t.after(async () => { await tap.close() })
  assert.equal(tap.mode, 'tap')
  assert.ok((await getLink(tap.name, { netns: ns }))?.address?.match(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/), 'a TAP device has a MAC address')

  // the open's signal bounds the open only (issue 14): aborting it later leaves the device open
  const ac = new AbortController()
  const tn = await createTun({ name: net.ifname('ab'), netns: ns, signal: ac.signal })
  let closed = false
  tn.addEventListener('tun:close', () => { closed = true })
  ac.abort()
  assert.equal(tn.closed, false)
  await tn.close()
  assert.equal(tn.closed, true)
  assert.equal(closed, true)
  await assert.rejects(createTun({ signal: AbortSignal.abort() }), { name: 'AbortError' })
})

test('tun: batches() iterates what the kernel sends and ends on abort', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('it')
  const tun = await createTun({ name: net.ifname('ti'), netns: ns, addresses: ['10.77.4.1/24'] })
  t.after(async () => { await tun.close() })
  const ac = new AbortController()
  const ping = net.status(ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '10.77.4.2'])
  let echoes = 0
  for await (const batch of tun.batches({ signal: ac.signal })) {
    for (const rec of iterateRecords(batch)) {
      const ip = parseIpv4(rec)
      if (ip.version === 4 && ip.protocol === 1 && ip.dst === '10.77.4.2') echoes++
    }
    if (echoes >= 2) ac.abort()
  }
  assert.ok(echoes >= 2)
  await ping
  assert.equal(tun.closed, false, 'ending an iteration does not close the device')
})

test('tun: read batches are never overwritten (a kept batch stays intact while later reads fill new memory)', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('keep')
  const tun = await createTun({ name: net.ifname('tk'), netns: ns, mtu: 1500, addresses: ['10.77.3.1/24'] })
  t.after(async () => { await tun.close() })
  // Every batch is kept, with a copy taken when it arrived: reads go straight into shared slabs
  // (native/tun/tun.c), so a batch overwritten by a later read would no longer equal its copy.
  const kept: Array<{ batch: Uint8Array, copy: Uint8Array }> = []
  let bytes = 0
  tun.onBatch(batch => { kept.push({ batch, copy: batch.slice() }); bytes += batch.byteLength })
  // ~11 MB of 1400-byte datagrams towards an address routed into the device: more than two slabs
  const script = "const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(1400);let i=0;const go=()=>{for(let k=0;k<200&&i<8000;k++,i++){b.writeUInt32BE(i,0);s.send(b,9,'10.77.3.2')}if(i<8000)setImmediate(go);else setTimeout(()=>s.close(),200)};go()"
  const sent = await net.status(ns, process.execPath, ['-e', script], { timeoutMs: 30_000 })
  assert.equal(sent.code, 0, sent.stderr)
  await waitFor(() => bytes >= 6 * 1024 * 1024, 15_000, 'at least 6 MiB read from the device')
  const slabs = new Set(kept.map(k => k.batch.buffer))
  assert.ok(slabs.size >= 2, `reads crossed into a new slab (${slabs.size} seen)`)
  let records = 0
  for (const [i, k] of kept.entries()) {
    assert.ok(Buffer.from(k.batch).equals(k.copy), `batch ${i} of ${kept.length} changed after it was delivered`)
    for (const rec of iterateRecords(k.batch)) {
      if (rec[0]! >> 4 !== 4) continue // the kernel's own IPv6 traffic (router solicitations...)
      records++
      assert.equal(rec.byteLength, 20 + 8 + 1400)
    }
  }
  assert.ok(records * 1428 >= 6 * 1024 * 1024 - 64 * 1024, `${records} datagrams read whole`)
})

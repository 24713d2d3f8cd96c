/**
 * The TUN writer waits for room in the receiving UDP socket (native/tun/udp_room.h, tun.c
 * wait_for_room), on a real offload TUN in a namespace the test makes, with a real local reader
 * (python3) in that namespace: a burst of GSO_UDP_L4 records for a slow reader arrives whole
 * instead of overflowing its socket buffer; without the wait the same burst loses datagrams (the
 * positive control); in the default (gated) mode the wait starts once the namespace's receivers
 * were seen dropping; and a reader that never reads does not hold the writer up (it gives up).
 * An overloaded reader (it needs more than the 5 ms per 20 ms the writer waits for a flow that
 * shares the device) is waited for past that bound while its flow is alone on the device, and not
 * once another flow's records are written between its own (tun.c, ROOM_SHARED_BYTES).
 *
 * The writer runs in a child node process inside the namespace (`ip netns exec`), because the
 * socket lookup and the drop counters are those of the writing process's namespace.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { netnsFixture } from '../helpers/netns.js'
import { requireRoot } from '../helpers/root.js'

const TUN_JS = new URL('../../src/netdev/tun.js', import.meta.url).href
const RECORDS_JS = new URL('../../src/netdev/records.js', import.meta.url).href
const PACKETS_JS = new URL('./packets.js', import.meta.url).href

/**
 * A local reader: binds 10.81.0.1:5600 with a small buffer, says "ready", then reads 20
 * datagrams at a time with a nap between (0.2 ms, or 1 ms `slower`: overloaded by a burst, but
 * always making progress), or never (`stuck`); prints how many it got after 0.5 s of silence (or,
 * stuck, after 1.5 s).
 */
const READER = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.bind(("10.81.0.1", 5600))
print("ready", flush=True)
if sys.argv[1] == "stuck":
    time.sleep(1.5)
    print(0, flush=True)
    sys.exit(0)
s.settimeout(0.5)
n = 0
try:
    while True:
        s.recv(65536)
        n += 1
        if n % 20 == 0:
            time.sleep(0.001 if sys.argv[1] == "slower" else 0.0002)
except socket.timeout:
    pass
print(n, flush=True)
`

/**
 * The writer (ES module, run by node inside the namespace): an offload TUN 10.81.0.1/24, the
 * reader, then `bursts` bursts of 8 GSO_UDP_L4 records of 40 datagrams each (320 datagrams of
 * 1200 bytes, merged from single datagrams before the write) from 10.81.0.2 to the reader, 20 ms
 * apart. Prints one JSON line: datagrams the reader got, the namespace's receive-buffer drops
 * during the bursts, and the TUN's counters.
 */
const WRITER = `
const { createTun } = await import(${JSON.stringify(TUN_JS)})
const { buildBatch, VNET_HDR_LEN } = await import(${JSON.stringify(RECORDS_JS)})
const { checksum } = await import(${JSON.stringify(PACKETS_JS)})
const { spawn } = await import('node:child_process')
const { readFileSync } = await import('node:fs')
const [mode, bursts] = [process.argv[1], Number(process.argv[2])]
const yieldOpt = mode === 'off' ? false : mode === 'gated' ? true : 'always'
const tun = await createTun({ offload: true, mtu: 1500, addresses: ['10.81.0.1/24'], udpWriteCoalesce: true, udpWriteYield: yieldOpt, udpRoomAlone: mode !== 'bounded' })
const drops = () => {
  const l = readFileSync('/proc/self/net/snmp', 'utf8').split('\\n').filter(x => x.startsWith('Udp: '))
  return Number(l[1].split(' ')[l[0].split(' ').indexOf('RcvbufErrors')])
}
const overloaded = mode === 'alone' || mode === 'bounded' || mode === 'shared'
const reader = spawn('python3', ['-c', ${JSON.stringify(READER)}, mode === 'stuck' ? 'stuck' : overloaded ? 'slower' : 'slow'], { stdio: ['ignore', 'pipe', 'inherit'] })
const lines = []
let wake
reader.stdout.on('data', d => { lines.push(...d.toString().split('\\n').filter(Boolean)); wake?.() })
const line = async () => { while (lines.length === 0) await new Promise(r => { wake = r }); return lines.shift() }
if (await line() !== 'ready') throw new Error('reader did not start')
const SIZE = 1200
function datagram (seq, id, port = 5600) {
  const total = 28 + SIZE
  const rec = new Uint8Array(VNET_HDR_LEN + total)
  rec[0] = 1; rec[6] = 20; rec[8] = 6 // NEEDS_CSUM, checksum from the UDP header on
  const p = rec.subarray(VNET_HDR_LEN)
  p[0] = 0x45; p[2] = total >> 8; p[3] = total & 0xff; p[4] = id >> 8; p[5] = id & 0xff; p[6] = 0x40; p[8] = 64; p[9] = 17
  p.set([10, 81, 0, 2], 12); p.set([10, 81, 0, 1], 16)
  const c = checksum(p, 0, 20); p[10] = c >> 8; p[11] = c & 0xff
  const ulen = 8 + SIZE
  p[20] = 0x30; p[21] = 0x39; p[22] = port >> 8; p[23] = port & 0xff; p[24] = ulen >> 8; p[25] = ulen & 0xff
  let pseudo = 17 + ulen + (10 << 8) + 81 + 2 + (10 << 8) + 81 + 1
  while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16)
  p[26] = pseudo >> 8; p[27] = pseudo & 0xff
  new DataView(p.buffer, p.byteOffset).setUint32(28, seq)
  return rec
}
const d0 = drops()
let sent = 0
for (let b = 0; b < bursts; b++) {
  // 8 runs of 40 consecutive ids: each run merges into one GSO record
  const recs = Array.from({ length: 320 }, (_, i) => datagram(sent + i, b * 1000 + Math.floor(i / 40) * 100 + (i % 40)))
  // shared: before each of those records, one of 20 datagrams (24 KB) of another flow (no socket: dropped as NoPorts)
  const batch = mode !== 'shared' ? recs : recs.flatMap((r, i) => i % 40 === 0 ? [...Array.from({ length: 20 }, (_, k) => datagram(0, 30000 + b * 1000 + i * 20 + k, 5601)), r] : [r])
  sent += tun.writeBatch(buildBatch(batch)) - (batch.length - recs.length)
  await new Promise(r => setTimeout(r, 20)) // spacing between bursts, so that the gate's 5-ms check runs between them
}
const got = Number(await line())
const st = tun.stats
console.log(JSON.stringify({ sent, got, drops: drops() - d0, waits: st.txRoomWaits, gaveUp: st.txRoomGaveUp, alone: st.txRoomAlone, readerDrops: st.txReaderDrops, txPackets: st.txPackets, txErrors: st.txErrors }))
await tun.close()
reader.kill()
`

interface Result { sent: number, got: number, drops: number, waits: number, gaveUp: number, alone: number, readerDrops: number, txPackets: number, txErrors: number }

async function runWriter (ns: string, mode: 'always' | 'off' | 'gated' | 'stuck' | 'alone' | 'bounded' | 'shared', bursts: number): Promise<Result> {
  return await new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', WRITER, mode, String(bursts)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => { c.kill('SIGKILL') }, 30_000)
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.stderr.on('data', (d: Buffer) => { err += d.toString() })
    c.on('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) { reject(new Error(`writer (${mode}) exited ${code}: ${err.slice(-2000)}`)); return }
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Result)
    })
  })
}

test('udp room: the TUN writer waits for room in a slow local reader\'s socket, and every datagram arrives; without the wait the same bursts overflow it; gated, the wait starts after drops were seen; a reader that never reads is given up on', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('room')

  // the positive control: without waiting, 8 records of 40 datagrams at once overflow a ~128 KiB buffer
  const off = await runWriter(ns, 'off', 1)
  assert.equal(off.sent, 320)
  assert.equal(off.txPackets, 8, 'written as 8 GSO records')
  assert.equal(off.waits, 0, 'no waits when off')
  assert.ok(off.drops > 0, `the burst overflowed the reader's buffer without the wait (drops ${off.drops})`)
  assert.equal(off.got + off.drops, 320, 'every datagram either read or counted as dropped at the socket')

  // waiting: the writer sleeps until each record fits, and the reader gets everything
  const on = await runWriter(ns, 'always', 1)
  assert.equal(on.sent, 320)
  assert.ok(on.waits >= 1, `the writer waited for room (waits ${on.waits})`)
  assert.equal(on.txErrors, 0)
  // a reader descheduled for > 1 ms on a busy machine makes the writer give up (and drop): only
  // when it never did must every datagram have arrived
  if (on.gaveUp === 0) {
    assert.equal(on.drops, 0, 'no datagram dropped at the socket')
    assert.equal(on.got, 320, 'every datagram read')
  } else {
    assert.ok(on.drops < off.drops, `fewer drops than without the wait (${on.drops} vs ${off.drops})`)
  }

  // gated (the default): the first burst overflows, the drops open the gate, the later bursts wait
  const gated = await runWriter(ns, 'gated', 3)
  assert.equal(gated.sent, 960)
  assert.ok(gated.readerDrops >= 1, 'the gate saw the drops')
  assert.ok(gated.waits >= 1, `the writer waited once the gate was open (waits ${gated.waits})`)

  // a reader that never reads: the writer gives up on it after 1 ms without progress, and the call returns
  const stuck = await runWriter(ns, 'stuck', 1)
  assert.equal(stuck.sent, 320)
  assert.ok(stuck.gaveUp >= 1, 'the writer gave up on a socket nobody reads')
  assert.ok(stuck.gaveUp <= 2, `given up once, then not waited for (gave up ${stuck.gaveUp} times)`)
  assert.ok(stuck.drops > 0, 'its datagrams were dropped at the full socket')
  await net.cleanup()
})

test('udp room: an overloaded reader is waited for past the shared bound while its flow is alone on the device, and not once another flow shares it', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('room')

  // the positive control: bounded as before (udpRoomAlone false), the 1-ms-per-20 reader needs
  // more than 5 ms of waiting in 20 ms, so the writer gives up on it and the socket drops
  const bounded = await runWriter(ns, 'bounded', 1)
  assert.equal(bounded.sent, 320)
  assert.equal(bounded.alone, 0, 'never past the bound when the rule is off')
  assert.ok(bounded.gaveUp >= 1, `the bounded writer gave up on the overloaded reader (gave up ${bounded.gaveUp})`)
  assert.ok(bounded.drops > 0, `so its socket dropped datagrams (drops ${bounded.drops})`)

  // alone: the same reader is waited for past the bound; unless it stalled for 5 ms (a busy
  // machine), nothing is dropped at its socket
  const alone = await runWriter(ns, 'alone', 1)
  assert.equal(alone.sent, 320)
  assert.ok(alone.alone >= 1, `waits went past the shared bound (alone ${alone.alone})`)
  if (alone.gaveUp === 0) {
    assert.equal(alone.drops, 0, 'no datagram dropped at the socket')
    assert.equal(alone.got, 320, 'every datagram read')
  } else {
    assert.ok(alone.drops < bounded.drops, `fewer drops than bounded (${alone.drops} vs ${bounded.drops})`)
  }

  // shared: 24 KB of another flow before each record: the bound applies again
  const shared = await runWriter(ns, 'shared', 1)
  t.diagnostic(JSON.stringify({ bounded, alone, shared }))
  assert.equal(shared.sent, 320)
  assert.equal(shared.txPackets, 16, 'written as 8 GSO records of each flow')
  assert.ok(shared.alone <= 1, `past the bound at most for the first record, before the other flow was seen (alone ${shared.alone})`)
  assert.ok(shared.gaveUp >= 1, `the writer gave up on the overloaded reader (gave up ${shared.gaveUp})`)
  await net.cleanup()
})

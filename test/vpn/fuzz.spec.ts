// Property-based fuzzing (fast-check) of every parser the VPN runs on peer input: membership,
// control frames, the policy, tunnel records (reassembly), the route table and the virtio_net_hdr
// check on raw packets, and DNS queries. Property: no crash and no hang, only the typed error each
// parser documents. Bounded in runs and time so CI stays fast; a failure prints its seed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { parseMembership, type VpnMembership } from '../../src/vpn/membership.js'
import { parseReply, parseRequest } from '../../src/vpn/control.js'
import { createMembershipPolicy } from '../../src/vpn/policy.js'
import { createRouteTable } from '../../src/vpn/routes.js'
import { vnetHeaderOk } from '../../src/vpn/vnet-hdr.js'
import { answerQuery } from '../../src/vpn/dns.js'
import { MAX_RECORD_PAYLOAD, RecordReassembler } from '../../src/netdev/records.js'

const A = '12D3KooWHD2m6CZtzoJ1XbASZX5nemjbRpVSaWj386FqX3JFKJME'
const B = '12D3KooWGRaxaTzft7LCQTGmoPJ8i31vxVmtnCP6mdPs7UYFVbwq'
/** Bounded: CI time, not coverage, sets these. */
const RUNS = { numRuns: 400, interruptAfterTimeLimit: 4000 }

const valid: VpnMembership = {
  networkId: 'n-1', authority: A, version: 3, cidr: '100.64.0.0/10', ipv6Prefix: 'fd64:646d:736e::/64', domain: 'dmsnet', mtu: 1420,
  members: [
    { peerId: A, name: 'a', ipv4: '100.64.0.1', ipv6: 'fd64:646d:736e::6440:1', routes: [], addrs: ['/ip4/10.0.0.1/tcp/4001'] },
    { peerId: B, name: 'b', ipv4: '100.64.0.2', ipv6: 'fd64:646d:736e::6440:2', routes: ['10.2.0.0/16'], addrs: [] }
  ]
}

/** Strings that look like what the fields hold, plus arbitrary ones. */
const fieldish = fc.oneof(
  fc.string(), fc.constantFrom(A, B, '/ip4/127.0.0.1/tcp/1', '0.0.0.0/0', '::/0', '100.64.0.0/10', '10.0.0.0/8', 'fd00::/8', '2000::/3', '100.64.0.3', 'fd64:646d:736e::1', '8.8.8.8', '', 'a'.repeat(600)),
  fc.ipV4().map(ip => `${ip}/${ip.length % 33}`), fc.ipV6().map(ip => `${ip}/64`), fc.ipV4(), fc.ipV6()
)
const anyValue = fc.oneof(fieldish, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fieldish, { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }))

/** A valid membership with a few fields replaced by hostile values. */
const mutated = fc.record({
  top: fc.dictionary(fc.constantFrom('networkId', 'authority', 'version', 'cidr', 'ipv6Prefix', 'domain', 'mtu', 'members'), anyValue, { maxKeys: 3 }),
  member: fc.dictionary(fc.constantFrom('peerId', 'name', 'ipv4', 'ipv6', 'routes', 'addrs'), fc.oneof(anyValue, fc.array(fieldish, { maxLength: 3 })), { maxKeys: 3 }),
  which: fc.nat(1)
}).map(({ top, member, which }) => ({ ...valid, members: valid.members.map((m, i) => i === which ? { ...m, ...member } : m), ...top }))

function expectOnly (names: string[], fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    assert.ok(names.includes((err as Error).name), `unexpected ${(err as Error).name}: ${(err as Error).message}`)
  }
}

test('fuzz: membership parser and policy: only InvalidFrameError / MembershipRefusedError', () => {
  const policy = createMembershipPolicy({ acceptRoutesFrom: ['*'] })
  fc.assert(fc.property(fc.oneof(mutated, anyValue, fc.jsonValue()), (v) => {
    expectOnly(['InvalidFrameError'], () => {
      const m = parseMembership(v)
      expectOnly(['MembershipRefusedError'], () => {
        const { effective } = policy.check(m)
        // what passes the policy must be usable by the data path
        createRouteTable(effective, A)
      })
    })
  }), RUNS)
})

test('fuzz: control requests and replies: only InvalidFrameError', () => {
  const frame = fc.oneof(
    fc.record({ type: fc.constantFrom('membership', 'fetch', 'bye', 'other'), membership: fc.oneof(mutated, anyValue), networkId: anyValue }, { requiredKeys: ['type'] }),
    fc.record({ ok: anyValue, membership: fc.oneof(mutated, anyValue), error: anyValue }, { requiredKeys: [] }),
    anyValue
  )
  fc.assert(fc.property(frame, (v) => {
    expectOnly(['InvalidFrameError'], () => parseRequest(v))
    expectOnly(['InvalidFrameError'], () => parseReply(v))
  }), RUNS)
})

test('fuzz: tunnel record reassembly over arbitrary chunks: only InvalidBatchError, bounded output', () => {
  const lenPrefixed = fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 6 }).map(ps => {
    const parts = ps.map(p => { const r = new Uint8Array(4 + p.byteLength); new DataView(r.buffer).setUint32(0, p.byteLength); r.set(p, 4); return r })
    return Buffer.concat(parts)
  })
  const stream = fc.oneof(lenPrefixed, fc.uint8Array({ maxLength: 2000 }))
  fc.assert(fc.property(stream, fc.array(fc.nat(64), { maxLength: 10 }), (bytes, cuts) => {
    const r = new RecordReassembler({ min: 30, max: MAX_RECORD_PAYLOAD })
    let off = 0
    let out = 0
    try {
      for (const cut of [...cuts, bytes.byteLength]) {
        const end = Math.min(bytes.byteLength, off + cut)
        for (const run of r.push(bytes.subarray(off, end))) out += run.byteLength
        off = end
      }
    } catch (err) {
      assert.equal((err as Error).name, 'InvalidBatchError')
    }
    assert.ok(out <= bytes.byteLength)
  }), RUNS)
})

test('fuzz: route table and virtio_net_hdr check on raw packets: never throw', () => {
  const table = createRouteTable({ ...valid, members: valid.members.map(m => ({ ...m })) }, A)
  const from = table.byPeer.get(B)!
  const ipish = fc.tuple(fc.constantFrom(0x45, 0x46, 0x60, 0x4f, 0x00, 0xff), fc.uint8Array({ minLength: 0, maxLength: 120 })).map(([v, rest]) => Uint8Array.from([v, ...rest]))
  fc.assert(fc.property(fc.uint8Array({ minLength: 10, maxLength: 10 }), fc.oneof(ipish, fc.uint8Array({ maxLength: 120 })), (hdr, pkt) => {
    const rec = Uint8Array.from([...hdr, ...pkt])
    const v = table.checkInbound(from, rec, 10, pkt.byteLength)
    assert.ok(v >= 0 && v <= 3)
    table.lookup(rec, 10, pkt.byteLength)
    assert.equal(typeof vnetHeaderOk(rec, 0, pkt.byteLength), 'boolean')
  }), RUNS)
})

test('fuzz: DNS queries: an answer or nothing, never a throw', () => {
  const options = { domain: 'dmsnet', resolve: (name: string) => name === 'a' ? { ipv4: '100.64.0.1', ipv6: 'fd64:646d:736e::6440:1' } : undefined }
  const header = fc.uint8Array({ minLength: 12, maxLength: 12 })
  const query = fc.tuple(header, fc.uint8Array({ maxLength: 300 })).map(([h, rest]) => Buffer.from([...h, ...rest]))
  fc.assert(fc.property(fc.oneof(query, fc.uint8Array({ maxLength: 64 }).map(b => Buffer.from(b))), (q) => {
    const r = answerQuery(q, options)
    assert.ok(r === undefined || Buffer.isBuffer(r))
  }), RUNS)
})

// DNS responder: A/AAAA for member names, NXDOMAIN otherwise, garbage dropped; over real UDP on loopback.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import dnsPacket from 'dns-packet'
import { answerQuery, createDnsResponder } from '../../src/vpn/dns.js'

type Decoded = dnsPacket.DecodedPacket & { rcode?: string }
function decode (b: Buffer): Decoded { return dnsPacket.decode(b) as Decoded }

const records: Record<string, { ipv4: string, ipv6: string }> = { alpha: { ipv4: '100.64.0.7', ipv6: 'fd64:646d:736e::6440:7' } }
const opts = { domain: 'dmsnet', resolve: (n: string) => records[n] }

function query (name: string, type: 'A' | 'AAAA' | 'TXT', id = 7): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] })
}

test('answers A and AAAA, NXDOMAIN for unknown or foreign names, NODATA for other types', () => {
  const a = decode(answerQuery(query('alpha.dmsnet', 'A'), opts)!)
  assert.equal(a.rcode, 'NOERROR')
  assert.deepEqual(a.answers?.map(x => (x as { data: string }).data), ['100.64.0.7'])
  const aaaa = decode(answerQuery(query('ALPHA.dmsnet.', 'AAAA'), opts)!)
  assert.deepEqual(aaaa.answers?.map(x => (x as { data: string }).data), ['fd64:646d:736e::6440:7'])
  assert.equal(decode(answerQuery(query('beta.dmsnet', 'A'), opts)!).rcode, 'NXDOMAIN')
  assert.equal(decode(answerQuery(query('example.com', 'A'), opts)!).rcode, 'NXDOMAIN')
  assert.equal(decode(answerQuery(query('x.alpha.dmsnet', 'A'), opts)!).rcode, 'NXDOMAIN')
  const txt = decode(answerQuery(query('alpha.dmsnet', 'TXT'), opts)!)
  assert.equal(txt.rcode, 'NOERROR')
  assert.equal(txt.answers?.length, 0)
  const stats = { queries: 0, answered: 0, nxdomain: 0, malformed: 0 }
  assert.equal(answerQuery(Buffer.from([1, 2, 3]), opts, stats), undefined)
  assert.equal(stats.malformed, 1)
})

test('serves over UDP and survives garbage', async () => {
  const dns = await createDnsResponder({ ...opts, addresses: ['127.0.0.1'], port: 0 })
  const sock = createSocket('udp4')
  try {
    sock.send(Buffer.from('garbage'), dns.bound[0]!.port, '127.0.0.1')
    sock.send(query('alpha.dmsnet', 'A', 42), dns.bound[0]!.port, '127.0.0.1')
    const [msg] = await once(sock, 'message') as [Buffer]
    const r = decode(msg)
    assert.equal(r.id, 42)
    assert.deepEqual(r.answers?.map(x => (x as { data: string }).data), ['100.64.0.7'])
    assert.equal(dns.stats.malformed, 1)
  } finally {
    sock.close()
    await dns.close()
  }
})

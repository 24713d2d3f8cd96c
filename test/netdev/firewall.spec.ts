/**
 * nftables firewall tests with real TCP connections between namespaces the test creates: a rule
 * blocks then allows a connection; port mappings (DNAT) with masquerading reach a server in
 * another namespace and are removable one at a time; a failing change applies nothing; others'
 * tables are never touched; bad rule objects are refused.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createFirewall } from '../../src/netdev/firewall.js'
import { netnsFixture } from '../helpers/netns.js'
import { requireRoot } from '../helpers/root.js'
import { startTcpServer, tcpProbe, tcpRequest } from './tcp.js'

test('firewall: a drop rule blocks a real TCP connection, removing it allows it again', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const a = await net.namespace('fa')
  const b = await net.namespace('fb')
  await net.link(a, '10.80.0.1/24', b, '10.80.0.2/24')
  await startTcpServer(t, b, '10.80.0.2', 7100, 'srv')
  assert.equal(await tcpRequest(a, '10.80.0.2', 7100), 'srv 10.80.0.1')

  const fw = createFirewall({ netns: b, table: `dmsnet_t${process.pid}` })
  t.after(async () => { await fw.stop() })
  const id = await fw.addRule({ action: 'drop', source: '10.80.0.1/32', protocol: 'tcp', port: 7100 })
  // blocked means: no answer, and the kernel counted our drop rule matching the client's SYNs
  assert.deepEqual(await tcpProbe(a, '10.80.0.2', 7100, 1000), { kind: 'silent' }, 'blocked')
  assert.ok((await fw.counters()).get(id)!.packets >= 1, 'the drop rule matched the connection attempt')
  // render() is the script in force: the rule it shows is the one the kernel holds
  assert.match(fw.render(), new RegExp(`ip saddr 10\\.80\\.0\\.1.*tcp dport 7100.*drop comment "dmsnet:${id}"`))
  assert.match(await net.exec(b, 'nft', ['list', 'table', 'inet', fw.table]), new RegExp(`comment "dmsnet:${id}"`))
  await fw.remove(id)
  assert.doesNotMatch(fw.render(), new RegExp(`dmsnet:${id}`))
  assert.equal(await tcpRequest(a, '10.80.0.2', 7100), 'srv 10.80.0.1', 'allowed again')

  // allow-list: policy drop, only our subnet's tcp/7100 is accepted
  const strict = createFirewall({ netns: b, table: `dmsnet_s${process.pid}`, inputPolicy: 'drop' })
  t.after(async () => { await strict.stop() })
  await strict.start()
  assert.deepEqual(await tcpProbe(a, '10.80.0.2', 7100, 1000), { kind: 'silent' }, 'default drop')
  const allow = await strict.addRule({ action: 'accept', source: '10.80.0.0/24', protocol: 'tcp', port: [7000, 7200] })
  assert.equal(await tcpRequest(a, '10.80.0.2', 7100), 'srv 10.80.0.1')
  assert.ok((await strict.counters()).get(allow)!.packets >= 1, 'the accept rule let it through')
  await strict.stop()
  await fw.stop()
  assert.doesNotMatch(await net.exec(b, 'nft', ['list', 'tables']), /dmsnet_/)
})

test('firewall: port mappings with masquerade reach another namespace; removing one leaves the other working', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const client = await net.namespace('fc')
  const router = await net.namespace('fr')
  const server = await net.namespace('fs')
  await net.link(client, '10.81.0.2/24', router, '10.81.0.1/24')
  const { b: toServer } = await net.link(server, '10.81.1.2/24', router, '10.81.1.1/24')
  await net.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
  await startTcpServer(t, server, '10.81.1.2', 7001, 'one')
  await startTcpServer(t, server, '10.81.1.2', 7002, 'two')
  // the server has no route back to the client's subnet: only masquerading makes replies work

  const fw = createFirewall({ netns: router })
  t.after(async () => { await fw.stop() })
  const m1 = await fw.addPortMapping({ protocol: 'tcp', port: 8001, to: { address: '10.81.1.2', port: 7001 } })
  const m2 = await fw.addPortMapping({ protocol: 'tcp', port: 8002, to: { address: '10.81.1.2', port: 7002 } })
  const masq = await fw.addMasquerade({ source: '10.81.0.0/24', outInterface: toServer })
  assert.equal(await tcpRequest(client, '10.81.0.1', 8001), 'one 10.81.1.1', 'mapped and masqueraded')
  assert.equal(await tcpRequest(client, '10.81.0.1', 8002), 'two 10.81.1.1')

  await fw.remove(m1)
  // without the mapping nothing listens on the router's 8001: the kernel answers with a reset
  assert.deepEqual(await tcpProbe(client, '10.81.0.1', 8001), { kind: 'refused', code: 'ECONNREFUSED' }, 'removed mapping is gone')
  assert.equal(await tcpRequest(client, '10.81.0.1', 8002), 'two 10.81.1.1', 'the other mapping still works')
  assert.deepEqual(fw.list().map(e => e.id), [m2, masq])

  const dnatHits = (await fw.counters()).get(m2)!.packets
  assert.ok(dnatHits >= 1, 'the remaining mapping is counted')
  await fw.remove(masq) // without masquerade the server's replies have no route: the mapping alone fails
  assert.deepEqual(await tcpProbe(client, '10.81.0.1', 8002, 1000), { kind: 'silent' }, 'unanswered without masquerade')
  assert.ok((await fw.counters()).get(m2)!.packets >= 1, 'the SYN was still mapped (the reply is what has no way back)')
  await fw.stop()
  assert.doesNotMatch(await net.exec(router, 'nft', ['list', 'ruleset']), /dmsnet/)
})

test('firewall: failures apply nothing; others\' tables are never touched; bad rules are refused', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const ns = await net.namespace('fx')
  await net.exec(ns, 'nft', ['add table inet someone_else; add chain inet someone_else c { type filter hook input priority 0; }; add rule inet someone_else c tcp dport 22 accept'])

  const fw = createFirewall({ netns: ns })
  await fw.start()
  const keep = await fw.addRule({ action: 'drop', protocol: 'udp', port: 9 })
  // validation failure in a batch: none of the batch is applied
  await assert.rejects(fw.add([
    { kind: 'filter', rule: { action: 'accept', protocol: 'tcp', port: 80 } },
    { kind: 'filter', rule: { action: 'accept', port: 80 } }
  ]), { name: 'InvalidRuleError' })
  assert.deepEqual(fw.list().map(e => e.id), [keep])
  assert.doesNotMatch(await net.exec(ns, 'nft', ['list', 'table', 'inet', 'dmsnet']), /dport 80/)

  await assert.rejects(fw.addRule({ action: 'allow' as 'accept' }), { name: 'InvalidRuleError' })
  await assert.rejects(fw.addRule({ action: 'drop', source: '10.0.0.0/33' }), { name: 'InvalidAddressError' })
  await assert.rejects(fw.addRule({ action: 'drop', protocol: 'tcp', port: 70000 }), { name: 'InvalidPortError' })
  await assert.rejects(fw.addRule({ action: 'drop', inInterface: 'eth0"; flush ruleset; "' }), { name: 'InvalidInterfaceNameError' })
  await assert.rejects(fw.addPortMapping({ protocol: 'tcp', port: 80, to: { address: 'fd00::1' }, source: '10.0.0.0/8' }), { name: 'InvalidRuleError' })
  await assert.rejects(fw.addMasquerade({ source: 'not-a-cidr' }), { name: 'InvalidAddressError' })
  await assert.rejects(fw.remove('no-such-rule'), { name: 'NotFoundError' })
  assert.throws(() => createFirewall({ table: 'x; flush ruleset' }), { name: 'InvalidRuleError' })
  assert.throws(() => createFirewall({ netns: 'bad ns' }), { name: 'InvalidNamespaceNameError' })

  // the kernel side fails (namespace gone): the change is not recorded
  const gone = await net.namespace('fgone')
  const fw2 = createFirewall({ netns: gone })
  await fw2.start()
  await net.exec(gone, 'true')
  await (await import('../../src/netdev/netns.js')).deleteNetns(gone)
  await assert.rejects(fw2.addRule({ action: 'drop', protocol: 'tcp', port: 1 }), { name: 'CommandFailedError' })
  assert.deepEqual(fw2.list(), [])
  await fw2.stop() // never throws

  await fw.stop()
  const rules = await net.exec(ns, 'nft', ['list', 'ruleset'])
  assert.doesNotMatch(rules, /dmsnet/)
  assert.match(rules, /table inet someone_else[\s\S]*tcp dport 22 accept/, 'the foreign table is untouched')
})

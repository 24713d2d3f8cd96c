/**
 * Namespaces, links, addresses, routes, veth pairs and bridges on the real kernel, all inside
 * namespaces the test creates: pings cross a veth and a three-way bridge; setters are idempotent;
 * a failure midway leaves nothing behind; bad names and addresses are refused by name.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createBridge } from '../../src/netdev/bridge.js'
import { addAddress, addRoute, deleteAddress, deleteLink, deleteRoute, getLink, listAddresses, listLinks, listRoutes, moveLinkToNetns, setLink, setLinkDown, setLinkUp, setMtu } from '../../src/netdev/link.js'
import { createNetns, deleteNetns, execInNetns, listNetns, netnsExists } from '../../src/netdev/netns.js'
import { createVeth } from '../../src/netdev/veth.js'
import { netnsFixture } from '../helpers/netns.js'
import { requireRoot } from '../helpers/root.js'

test('netns: create, list, exec, delete are idempotent', async t => {
  if (!requireRoot(t)) return
  const name = `dmsnet-ns-${process.pid}`
  t.after(async () => { await deleteNetns(name) })
  await createNetns(name)
  await createNetns(name)
  assert.ok((await listNetns()).includes(name))
  assert.match(await execInNetns(name, 'ip', ['-o', 'link', 'show', 'lo']), /UP/)
  await deleteNetns(name)
  await deleteNetns(name)
  assert.equal(await netnsExists(name), false)
})

test('veth: a pair carries a ping between two namespaces; links, addresses and routes are typed and idempotent', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const a = await net.namespace('va')
  const b = await net.namespace('vb')
  const an = net.ifname('ea')
  const bn = net.ifname('eb')
  const veth = await createVeth({ a: { name: an, netns: a, addresses: ['10.82.0.1/24', 'fd82::1/64'] }, b: { name: bn, netns: b, addresses: ['10.82.0.2/24'] }, mtu: 9000 })
  // same call again: no error, same state
  await createVeth({ a: { name: an, netns: a, addresses: ['10.82.0.1/24'] }, b: { name: bn, netns: b, addresses: ['10.82.0.2/24'] }, mtu: 9000 })
  assert.match(await net.exec(a, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.82.0.2']), /2 received/)

  const link = await getLink(an, { netns: a })
  assert.equal(link?.kind, 'veth')
  assert.equal(link?.mtu, 9000)
  assert.equal(link?.up, true)
  assert.ok((await listLinks({ netns: a })).some(l => l.name === 'lo'))
  const addrs = await listAddresses(an, { netns: a })
  assert.ok(addrs.some(x => x.cidr === '10.82.0.1/24' && x.family === 4))
  assert.ok(addrs.some(x => x.cidr === 'fd82::1/64' && x.family === 6))

  await setLink(an, { txqueuelen: 4000, mtu: 1500 }, { netns: a })
  assert.equal((await getLink(an, { netns: a }))?.txqlen, 4000)
  // the documented shorthands: down, up, MTU, each seen by the kernel
  await setLinkDown(an, { netns: a })
  assert.equal((await getLink(an, { netns: a }))?.up, false)
  await setLinkUp(an, { netns: a })
  assert.equal((await getLink(an, { netns: a }))?.up, true)
  await setMtu(an, 1400, { netns: a })
  assert.equal((await getLink(an, { netns: a }))?.mtu, 1400)
  await assert.rejects(setMtu(an, 70000, { netns: a }), { name: 'InvalidAddressError' })
  await addAddress(an, '10.82.5.1/24', { netns: a })
  await addAddress(an, '10.82.5.1/24', { netns: a })
  await addRoute({ dst: '10.99.0.0/16', via: '10.82.0.2' }, { netns: a })
  await addRoute({ dst: '10.99.0.0/16', via: '10.82.0.2' }, { netns: a })
  assert.ok((await listRoutes(4, { netns: a })).some(r => r.dst === '10.99.0.0/16' && r.gateway === '10.82.0.2' && r.dev === an))
  await deleteRoute({ dst: '10.99.0.0/16', via: '10.82.0.2' }, { netns: a })
  await deleteRoute({ dst: '10.99.0.0/16', via: '10.82.0.2' }, { netns: a })
  assert.ok(!(await listRoutes(4, { netns: a })).some(r => r.dst === '10.99.0.0/16'))
  await deleteAddress(an, '10.82.5.1/24', { netns: a })
  await deleteAddress(an, '10.82.5.1/24', { netns: a })

  await veth.delete()
  await veth.delete()
  assert.equal(await getLink(an, { netns: a }), undefined)
  assert.equal(await getLink(bn, { netns: b }), undefined)
  assert.equal(await getLink('nosuchlink0', { netns: a }), undefined)
})

test('veth: a link moved into a namespace keeps working; failure midway leaves no device behind', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const a = await net.namespace('ma')
  const b = await net.namespace('mb')
  const x = net.ifname('mx')
  const y = net.ifname('my')
  await createVeth({ a: { name: x, netns: a }, b: { name: y, netns: a } })
  await moveLinkToNetns(y, b, { netns: a })
  await addAddress(x, '10.83.0.1/24', { netns: a })
  await addAddress(y, '10.83.0.2/24', { netns: b })
  await setLink(y, { up: true }, { netns: b })
  assert.match(await net.exec(b, 'ping', ['-c', '1', '-W', '2', '10.83.0.1']), /1 received/)

  // second end's namespace is fine but an address is bad for the kernel (IPv6 on a link with IPv6 disabled)
  await net.exec(a, 'sysctl', ['-qw', 'net.ipv6.conf.default.disable_ipv6=1'])
  const p = net.ifname('fp')
  const q = net.ifname('fq')
  await assert.rejects(createVeth({ a: { name: p, netns: a, addresses: ['fd83::1/64'] }, b: { name: q, netns: b } }), { name: 'CommandFailedError' })
  assert.equal(await getLink(p, { netns: a }), undefined)
  assert.equal(await getLink(q, { netns: b }), undefined)
  // the peer's namespace does not exist: nothing is created
  await assert.rejects(createVeth({ a: { name: p, netns: a }, b: { name: q, netns: `nope-${process.pid}` } }), { name: 'CommandFailedError' })
  assert.equal(await getLink(p, { netns: a }), undefined)
})

test('bridge: joins three namespaces (pings across), ports attach and detach', async t => {
  if (!requireRoot(t)) return
  const net = netnsFixture(t)
  const hub = await net.namespace('hub')
  const spokes = [await net.namespace('s1'), await net.namespace('s2'), await net.namespace('s3')]
  const br = await createBridge({ name: net.ifname('br'), netns: hub })
  const ports: string[] = []
  for (const [i, s] of spokes.entries()) {
    const { b } = await net.link(s, `10.84.0.${i + 1}/24`, hub, undefined)
    await br.attach(b)
    await br.attach(b) // idempotent
    ports.push(b)
  }
  assert.deepEqual((await br.ports()).sort(), [...ports].sort())
  assert.equal((await getLink(br.name, { netns: hub }))?.kind, 'bridge')
  assert.match(await net.exec(spokes[0]!, 'ping', ['-c', '1', '-W', '3', '10.84.0.2']), /1 received/)
  assert.match(await net.exec(spokes[0]!, 'ping', ['-c', '1', '-W', '3', '10.84.0.3']), /1 received/)
  assert.match(await net.exec(spokes[1]!, 'ping', ['-c', '1', '-W', '3', '10.84.0.3']), /1 received/)

  await br.detach(ports[2]!)
  await br.detach(ports[2]!)
  assert.equal((await br.ports()).includes(ports[2]!), false)
  const r = await net.status(spokes[0]!, 'ping', ['-c', '1', '-W', '1', '10.84.0.3'])
  assert.notEqual(r.code, 0, 'a detached port is cut off')
  await br.delete()
  await br.delete()
  assert.equal(await getLink(br.name, { netns: hub }), undefined)
  await assert.rejects(createBridge({ name: ports[0]!, netns: hub }), { name: 'InvalidArgumentError' })
})

test('netdev: bad inputs are rejected with named errors before anything runs', async t => {
  if (!requireRoot(t)) return
  await assert.rejects(createNetns('bad/name'), { name: 'InvalidNamespaceNameError' })
  await assert.rejects(createNetns('-n'), { name: 'InvalidNamespaceNameError' })
  await assert.rejects(deleteNetns(''), { name: 'InvalidNamespaceNameError' })
  await assert.rejects(getLink('sixteen-chars-xx'), { name: 'InvalidInterfaceNameError' })
  await assert.rejects(deleteLink('a b'), { name: 'InvalidInterfaceNameError' })
  await assert.rejects(setLink('eth0', { mtu: 70000 }), { name: 'InvalidAddressError' })
  await assert.rejects(setLink('eth0', { txqueuelen: -1 }), { name: 'InvalidArgumentError' })
  await assert.rejects(addAddress('eth0', '300.1.1.1/24'), { name: 'InvalidAddressError' })
  await assert.rejects(addAddress('eth0', '10.0.0.1/24', { netns: 'x y' }), { name: 'InvalidNamespaceNameError' })
  await assert.rejects(addRoute({ dst: '10.0.0.0/8' }), { name: 'InvalidArgumentError' })
  await assert.rejects(addRoute({ dst: '10.0.0.0/8', via: 'fd00::1' }), { name: 'InvalidArgumentError' })
  await assert.rejects(createVeth({ a: { name: 'x'.repeat(16) }, b: { name: 'y' } }), { name: 'InvalidInterfaceNameError' })
  await assert.rejects(createVeth({ a: { name: 'vx' }, b: { name: 'vx' } }), { name: 'InvalidArgumentError' })
  await assert.rejects(createVeth({ a: { name: 'vx', addresses: ['10.1.1.1/99'] }, b: { name: 'vy' } }), { name: 'InvalidAddressError' })
  await assert.rejects(createBridge({ name: '' }), { name: 'InvalidInterfaceNameError' })
  assert.equal(await getLink('vx'), undefined, 'nothing was created by the rejected calls')
})

/**
 * The demo (`npm start`) as a subprocess: 3 nodes come up and connect (mDNS off here, so only
 * loopback traffic: bootstrap plus peer routing join the pairs), a status table shows them, and
 * Ctrl-C (SIGINT) stops everything and removes the temporary data dirs.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { leftoversCleanup, runDemo } from './run-demo.js'

test('demo: 3 nodes connect, status table, clean exit on SIGINT', async (t) => {
  const demo = runDemo(['--status-interval', '2'])
  // as root the VPN step may be under way at the SIGINT: it must clean up, and if the test fails
  // half-way this removes what the killed demo leaves behind
  leftoversCleanup(t, demo)
  const [, base] = await demo.waitFor(/data dirs under (\S+) \(removed on exit\)/, 60_000)
  assert.ok(existsSync(base!))
  // n1's status page: the printed one-time link logs a browser in (303 to the page, session cookie)
  const [, link] = await demo.waitFor(/n1 +status page: (http:\/\/127\.0\.0\.1:\d+\/login\?code=\S+)/, 60_000)
  const login = await fetch(link!, { redirect: 'manual' })
  assert.equal(login.status, 303)
  assert.match(login.headers.get('set-cookie') ?? '', /^dmsnet_ui_\d+=\S+; HttpOnly; SameSite=Strict/)
  await demo.waitFor(/all 3 nodes connected \(full mesh, 3 pairs\)/, 60_000)
  const [table] = await demo.waitFor(/NODE +PEER ID +PROFILE +LISTEN +PEERS +CONNS +PING RTT\n(n\d .*\n){3}/, 60_000)
  for (const name of ['n1', 'n2', 'n3']) {
    const row = table!.split('\n').find(l => l.startsWith(name + ' '))
    assert.ok(row != null, `row for ${name}`)
    assert.match(row, /\/ip4\/127\.0\.0\.1\/tcp\/\d+ +2 +\d+ /, `${name} sees 2 peers: ${row}`)
    assert.match(row, / swarm:demo /, `${name} is inside the demo swarm: ${row}`)
  }
  assert.match(demo.out(), /n1 +connected +-> n2/)
  // the messaging step: signed gossip reached both others, and a request got its echo
  await demo.waitFor(/n1 +request -> n3 answered "are you there\?"/, 30_000)
  assert.match(demo.out(), /n2 +gossip from n1: "hello from n1"/)
  assert.match(demo.out(), /n3 +gossip from n1: "hello from n1"/)
  // the jobs step: n1 published a bid request and both others' signed bids came back
  assert.match(demo.out(), /n1 +published job [0-9a-f]{8}… \(2 cores, 2 GiB\)/)
  assert.match(demo.out(), /n1 +bid from n2: price 10, 4 cores \(signed/)
  assert.match(demo.out(), /n1 +bid from n3: price 13, 6 cores \(signed/)
  assert.match(demo.out(), /n1 +2 of 2 bids in \d+ ms; cheapest: n2 at 10/)
  // the swarm step: both members joined by invite, the key was rotated, everyone reconnected
  assert.match(demo.out(), /n2 +joined "demo" in \d+ ms \(profile swarm:demo, epoch 1\)/)
  assert.match(demo.out(), /n3 +joined "demo" in \d+ ms/)
  assert.match(demo.out(), /n1 +rotated the swarm key to epoch 2: delivered to n2, n3/)
  assert.match(demo.out(), /all 3 nodes connected again inside swarm "demo" on the new key/)
  demo.child.kill('SIGINT')
  assert.equal(await demo.exited, 0)
  assert.match(demo.out(), /SIGINT: shutting down/)
  assert.match(demo.out(), new RegExp(`stopped; removed ${base!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  assert.equal(existsSync(base!), false, 'temporary data dirs removed')
})

test('demo: --duration ends it by itself; bad option exits 2', async () => {
  const demo = runDemo(['--duration', '1', '--status-interval', '60'])
  assert.equal(await demo.exited, 0)
  assert.match(demo.out(), /stopping by itself after 1s/)
  const [, base] = demo.out().match(/stopped; removed (\S+)/) ?? []
  assert.ok(base != null && !existsSync(base))

  const bad = runDemo(['--nodes', '99'])
  assert.equal(await bad.exited, 2)
})

/**
 * The network knows no record type: DHT validators, selectors and the datastore come from whoever
 * composes the node (`createNetwork({ dht })`). A node given a namespace's validator stores and
 * serves records of it, refuses records its validator refuses; a node not given it refuses them
 * all; every host generation gets the composition's datastore. Real nodes over loopback TCP.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryDatastore } from 'datastore-core'
import { InvalidArgumentError } from '../../src/errors.js'
import type { DhtRecordOptions } from '../../src/network/types.js'
import { startNode, waitFor, type TestNode } from './helpers.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)
const KEY = enc('/dmsnet-test/greeting')

function records (made: MemoryDatastore[]): DhtRecordOptions {
  return {
    validators: {
      'dmsnet-test': async (_key, value) => {
        if (dec(value).startsWith('bad')) throw new InvalidArgumentError('refused by the test validator')
      }
    },
    selectors: { 'dmsnet-test': () => 0 },
    datastore: () => { const ds = new MemoryDatastore(); made.push(ds); return ds }
  }
}

/** Puts KEY=value from `node`; returns the peers that stored it (answered the PUT with the record). */
async function put (node: TestNode, value: string): Promise<Set<string>> {
  const stored = new Set<string>()
  for await (const ev of node.net.dht.put(KEY, enc(value), { signal: AbortSignal.timeout(10_000) })) {
    if (ev.name === 'PEER_RESPONSE' && ev.record != null && dec(ev.record.value) === value) stored.add(ev.from.toString())
  }
  return stored
}

/** The value `node` finds for KEY (its own store first), or undefined. */
async function get (node: TestNode): Promise<string | undefined> {
  try {
    for await (const ev of node.net.dht.get(KEY, { signal: AbortSignal.timeout(5_000) })) {
      if (ev.name === 'VALUE') return dec(ev.value)
    }
  } catch { /* not found */ }
  return undefined
}

test('DHT records: only a node given the namespace\'s validator stores them; its validator refuses bad ones; each host generation gets the datastore', async t => {
  const made: MemoryDatastore[] = []
  const writer = await startNode({}, { dht: records([]) })
  t.after(async () => { await writer.stop() })
  const keeper = await startNode({}, { dht: records(made) })
  t.after(async () => { await keeper.stop() })
  const plain = await startNode()
  t.after(async () => { await plain.stop() })
  assert.equal(made.length, 1, 'the keeper\'s host was built with the composition\'s datastore')
  await writer.net.dial(keeper.net.getMultiaddrs()[0]!)
  await writer.net.dial(plain.net.getMultiaddrs()[0]!)
  const table = (): number => (writer.net.dht as unknown as { routingTable: { size: number } }).routingTable.size
  await waitFor(() => table() >= 2, 10_000, 'both peers in the writer\'s routing table')

  const keeperId = keeper.net.peerId.toString()
  const plainId = plain.net.peerId.toString()
  const good = await put(writer, 'hello')
  assert.ok(good.has(keeperId), 'the node with the validator stored the record')
  assert.ok(!good.has(plainId), 'the node without it refused the record')
  const bad = await put(writer, 'bad: refused')
  assert.equal(bad.size, 0, 'the validator refused the bad record')
  await writer.stop()
  assert.equal(await get(keeper), 'hello', 'kept (the bad one did not replace it)')

  // a profile switch builds a new host: it gets a fresh datastore from the same factory
  await keeper.net.switchProfile({ name: 'swarm:t', dhtProtocolPrefix: '/dmsnet-t', bootstrap: [] })
  assert.equal(made.length, 2)
})

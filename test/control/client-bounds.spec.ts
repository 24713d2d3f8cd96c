/**
 * The control client against a hostile or broken process on the control socket: a unary reply
 * that never ends, one that announces a huge length, and a stream line that never gets its
 * newline. A raw HTTP server on a real unix socket stands in for the daemon. The client must stop
 * reading at `maxResponseBytes` with ResponseTooLargeError (never buffer without bound, never
 * hang), and still take replies within the bound from the same server (the positive control).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createControlClient } from '../../src/control/index.js'

const LIMIT = 1024 * 1024
/** The most a flooding reply sends before giving up (the client must stop far earlier). */
const FLOOD_CAP = 256 * 1024 * 1024

interface Hostile { socket: string, floodBytes: number }

/** Writes `unit` over and over until the client goes away or FLOOD_CAP is reached. */
function flood (res: ServerResponse, unit: Buffer, h: Hostile): void {
  const pump = (): void => {
    while (h.floodBytes < FLOOD_CAP && !res.destroyed) {
      h.floodBytes += unit.byteLength
      if (!res.write(unit)) { res.once('drain', pump); return }
    }
    res.end()
  }
  pump()
}

async function hostileDaemon (t: import('node:test').TestContext): Promise<Hostile> {
  const base = await mkdtemp(join(tmpdir(), 'dmsnet-cb-'))
  const h: Hostile = { socket: join(base, 'control.sock'), floodBytes: 0 }
  const unit = Buffer.alloc(64 * 1024, 0x61)
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      const { method } = JSON.parse(body) as { method: string }
      switch (method) {
        case 'small': // within the bound, with a multi-byte character: the positive control
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: { s: 'x'.repeat(LIMIT / 2) + 'é' } }))
          return
        case 'endless': // a JSON string that never closes, without a content-length
          res.writeHead(200, { 'content-type': 'application/json' })
          res.write('{"result":"')
          flood(res, unit, h)
          return
        case 'announced': // a content-length past the bound: refused before reading the body
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(FLOOD_CAP) })
          flood(res, unit, h)
          return
        case 'smallStream': {
          res.writeHead(200, { 'content-type': 'application/x-ndjson' })
          // one line split inside a two-byte character, in two writes
          const line = Buffer.from(JSON.stringify({ data: 'é'.repeat(1000) }) + '\n')
          res.write(line.subarray(0, 11))
          res.end(Buffer.concat([line.subarray(11), Buffer.from(JSON.stringify({ end: true }) + '\n')]))
          return
        }
        case 'endlessLine': // one stream item, then a line that never ends
          res.writeHead(200, { 'content-type': 'application/x-ndjson' })
          res.write(JSON.stringify({ data: 1 }) + '\n{"data":"')
          flood(res, unit, h)
          return
        default:
          res.writeHead(404).end()
      }
    })
  })
  await new Promise<void>(resolve => server.listen(h.socket, resolve))
  t.after(async () => {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
    await rm(base, { recursive: true, force: true })
  })
  return h
}

test('control client: replies past maxResponseBytes end with ResponseTooLargeError; replies within it are read whole', { timeout: 60_000 }, async (t) => {
  const h = await hostileDaemon(t)
  const client = createControlClient({ socket: h.socket, token: 't', maxResponseBytes: LIMIT })

  const small = await client.callUnchecked('small') as { s: string }
  assert.equal(small.s.length, LIMIT / 2 + 1)
  assert.ok(small.s.endsWith('é'))

  await assert.rejects(client.callUnchecked('endless'), { name: 'ResponseTooLargeError' })
  assert.ok(h.floodBytes < FLOOD_CAP, `the client stopped reading (server sent ${h.floodBytes} bytes)`)

  const sentBefore = h.floodBytes
  await assert.rejects(client.callUnchecked('announced'), { name: 'ResponseTooLargeError' })
  assert.ok(h.floodBytes - sentBefore < FLOOD_CAP)

  const items: unknown[] = []
  for await (const item of client.streamUnchecked('smallStream')) items.push(item)
  assert.deepEqual(items, ['é'.repeat(1000)], 'a character split across chunks is decoded whole')

  const got: unknown[] = []
  await assert.rejects((async () => { for await (const item of client.streamUnchecked('endlessLine')) got.push(item) })(), { name: 'ResponseTooLargeError' })
  assert.deepEqual(got, [1], 'the complete item before the endless line was delivered')

  // the socket is still usable afterwards
  assert.equal((await client.callUnchecked('small') as { s: string }).s.length, LIMIT / 2 + 1)
})

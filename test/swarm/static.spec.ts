/**
 * Static private networks (swarm.keyFile, Kubo-style): real daemons (createNode) over loopback
 * TCP. Nodes holding the same Kubo-format key connect; a node without it, or with another key,
 * cannot; swarm.allow narrows the network; a recording of a connection decrypts with the key
 * (XSalsa20, go-libp2p pnet) and shows nothing of libp2p in the clear; swarm.force refuses to start
 * without a key.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { loadConfig } from '../../src/config/load.js'
import { createControlClient } from '../../src/control/client.js'
import { createNode, type DmsnetNode } from '../../src/daemon/node.js'
import { swarmModule } from '../../src/daemon/features/swarm.js'
import { writeSwarmState } from '../../src/swarm/state.js'
import { availableXSalsa20 } from '../../src/swarm/xsalsa20.js'
import { keyFingerprint, loadStaticSwarm, type StaticSwarmStatus } from '../../src/swarm/static.js'
import { pause } from '../helpers/wait.js'

/** A key file exactly as Kubo's `ipfs-swarm-key-gen` writes it. */
function kuboKeyFile (dir: string, psk: Uint8Array, name = 'swarm.key'): string {
  const path = join(dir, name)
  writeFileSync(path, `/key/swarm/psk/1.0.0/\n/base16/\n${Buffer.from(psk).toString('hex')}\n`, { mode: 0o600 })
  return path
}

async function until (cond: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await pause(50) // polling interval of a bounded wait for a condition
  }
}

function tempDir (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'dmsnet-pnet-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

function nodeConfig (dir: string, port: number, swarm: Record<string, unknown> = {}): ReturnType<typeof loadConfig> {
  return loadConfig({
    base: {
      dataDir: dir,
      logging: { level: process.env.DMSNET_LOG_LEVEL ?? 'warn' },
      network: {
        listen: [`/ip4/127.0.0.1/tcp/${port}`],
        autonat: { enabled: false },
        dcutr: { enabled: false },
        relay: { client: false },
        mdns: { enabled: false },
        dht: { mode: 'server' },
        // a wrong key stalls the handshake until libp2p's dial timeout: keep it short on loopback
        connectionManager: { dialTimeoutMs: 3000 }
      },
      swarm
    }
  })
}

async function startNode (t: TestContext, swarm: Record<string, unknown> = {}): Promise<{ node: DmsnetNode, addr: string, dir: string, port: number }> {
  const dir = tempDir(t)
  // port 0: the node reports the port it bound (no free port guessed and raced for)
  const node = createNode(nodeConfig(join(dir, 'data'), 0, swarm), { modules: [swarmModule], setProcessLogLevel: false })
  t.after(async () => { await node.stop() })
  await node.start()
  const tcp = node.network.host.getMultiaddrs().map(a => a.toString()).find(a => a.startsWith('/ip4/127.0.0.1/tcp/') && !a.includes('/ws'))
  if (tcp == null) throw new Error('no TCP listen address')
  const port = Number(tcp.split('/')[4])
  return { node, addr: `/ip4/127.0.0.1/tcp/${port}/p2p/${node.peerId}`, dir, port }
}

test('nodes on the same Kubo-format key connect; no key, another key or not allowed: no connection', { timeout: 90_000 }, async (t) => {
  const keyDir = tempDir(t)
  const psk = new Uint8Array(randomBytes(32))
  const keyFile = kuboKeyFile(keyDir, psk)
  const otherKey = kuboKeyFile(keyDir, new Uint8Array(randomBytes(32)), 'other.key')

  const b = await startNode(t, { keyFile })
  const a = await startNode(t, { keyFile })
  // positive control: same key, connection up and usable (a ping round trip through PSK + Noise)
  await a.node.network.dial(b.addr, { signal: AbortSignal.timeout(20_000) })
  assert.ok(await a.node.network.ping(b.node.peerId, { signal: AbortSignal.timeout(10_000) }) >= 0)
  assert.ok(b.node.network.peers().includes(a.node.peerId))

  // the daemon reports the static network instead of a managed swarm
  const client = createControlClient({ socket: b.node.config.control.socket })
  const st = await client.call('swarm.status') as StaticSwarmStatus
  assert.equal(st.mode, 'static')
  assert.equal(st.fingerprint, keyFingerprint(psk))
  assert.equal(st.keyFile, keyFile)
  assert.ok(st.connected.includes(a.node.peerId))
  assert.ok(st.protectedConnections >= 1)
  assert.equal(st.cipher, availableXSalsa20()[0], 'the fastest cipher this machine has')
  // readers of the managed swarm's status (CLI, status page) find its fields too
  assert.equal(st.joined, true)
  assert.deepEqual(st.authorised, [])
  assert.deepEqual([st.keyService, st.invites, st.refused], [[], 0, 0])
  // managed-swarm calls are refused with a typed error, not half-run
  await assert.rejects(client.call('swarm.create', { name: 'x' }), { name: 'SwarmStateError' })
  await assert.rejects(client.call('swarm.join', { target: 'x' }), { name: 'SwarmStateError' })

  // a node without the key: the PSK listener reads its multistream header as a nonce and
  // answers in ciphertext, so multistream-select never agrees on a security protocol
  const plain = await startNode(t)
  const noKey = await plain.node.network.dial(b.addr, { signal: AbortSignal.timeout(15_000) }).then(() => undefined, (err: Error) => err)
  assert.ok(noKey != null, 'a node without the key connected')
  assert.equal(noKey.name, 'DialError')
  assert.equal((noKey.cause as Error | undefined)?.name, 'EncryptionFailedError', String(noKey.cause))
  assert.ok(!b.node.network.peers().includes(plain.node.peerId))

  // another key: the PSK layer garbles everything, the handshake on top fails
  const other = await startNode(t, { keyFile: otherKey })
  // garbled lengths leave Noise waiting for bytes that never come, until the dial timeout
  const wrongKey = await other.node.network.dial(b.addr, { signal: AbortSignal.timeout(15_000) }).then(() => undefined, (err: Error) => err)
  assert.ok(wrongKey != null, 'a node with another key connected')
  assert.equal(wrongKey.name, 'DialError')
  assert.equal((wrongKey.cause as Error | undefined)?.name, 'EncryptionFailedError', String(wrongKey.cause))
  assert.ok(!b.node.network.peers().includes(other.node.peerId))

  // swarm.allow: a node holding the key but not listed is refused by the gater; a listed one gets in
  const gated = await startNode(t, { keyFile, allow: [a.node.peerId] })
  const stranger = await startNode(t, { keyFile })
  // the dialer may see its side of the connection before the listener's gater closes it
  await stranger.node.network.dial(gated.addr, { signal: AbortSignal.timeout(15_000) }).catch(() => {})
  await until(async () => ((await gated.node.network.status()).denied?.inbound ?? 0) >= 1, 'gated node never denied the stranger')
  await until(async () => !stranger.node.network.peers().includes(gated.node.peerId), 'the stranger kept a connection')
  assert.ok(!gated.node.network.peers().includes(stranger.node.peerId))
  await a.node.network.dial(gated.addr, { signal: AbortSignal.timeout(15_000) })
  await until(async () => gated.node.network.peers().includes(a.node.peerId), 'the allowed peer is not connected')
})

/** A TCP relay on loopback that records each direction's bytes. */
async function recordingProxy (t: TestContext, targetPort: number): Promise<{ port: number, up: () => Buffer, down: () => Buffer }> {
  const up: Buffer[] = []
  const down: Buffer[] = []
  const sockets: Socket[] = []
  const srv: Server = createServer((client) => {
    const server = createConnection({ host: '127.0.0.1', port: targetPort })
    sockets.push(client, server)
    client.on('data', (d: Buffer) => { up.push(d); server.write(d) })
    server.on('data', (d: Buffer) => { down.push(d); client.write(d) })
    client.on('close', () => { server.destroy() })
    server.on('close', () => { client.destroy() })
    client.on('error', () => {})
    server.on('error', () => {})
  })
  await new Promise<void>(resolve => { srv.listen(0, '127.0.0.1', resolve) })
  t.after(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>(resolve => { srv.close(() => { resolve() }) })
  })
  return { port: (srv.address() as { port: number }).port, up: () => Buffer.concat(up), down: () => Buffer.concat(down) }
}

test('a recorded connection between two static-network nodes is PSK on the wire', { timeout: 60_000 }, async (t) => {
  const keyDir = tempDir(t)
  const psk = new Uint8Array(randomBytes(32))
  const keyFile = kuboKeyFile(keyDir, psk)
  const b = await startNode(t, { keyFile })
  const a = await startNode(t, { keyFile })
  const bPort = Number(/\/tcp\/(\d+)\//.exec(b.addr)![1])
  const proxy = await recordingProxy(t, bPort)

  await a.node.network.dial(`/ip4/127.0.0.1/tcp/${proxy.port}/p2p/${b.node.peerId}`, { signal: AbortSignal.timeout(20_000) })
  // some application traffic on top, so the recording covers more than the handshakes
  for (let i = 0; i < 3; i++) await a.node.network.ping(b.node.peerId, { signal: AbortSignal.timeout(10_000) })

  const clear = ['/multistream/1.0.0', '/noise', '/yamux', '/ipfs/ping', '/ipfs/id']
  for (const [dir, wire] of [['dialer->listener', proxy.up()], ['listener->dialer', proxy.down()]] as const) {
    assert.ok(wire.byteLength > 24 + 100, `${dir}: only ${wire.byteLength} bytes recorded`)
    // nothing libp2p speaks is visible in the recording
    for (const s of clear) assert.equal(wire.includes(Buffer.from(s)), false, `${dir}: "${s}" in the clear`)
    // nonce in the clear, then XSalsa20(psk, nonce) from counter 0: the decryption starts with
    // multistream-select (varint 19, "/multistream/1.0.0\n") and negotiates Noise
    const nonce = wire.subarray(0, 24)
    const plain = Buffer.from(xsalsa20(psk, nonce, wire.subarray(24)))
    assert.equal(plain.subarray(0, 20).toString('latin1'), '\x13/multistream/1.0.0\n', `${dir}: does not decrypt to multistream-select`)
    assert.ok(plain.includes(Buffer.from('/noise')), `${dir}: Noise not negotiated under the PSK layer`)
    // the wrong key gives garbage: the check above is not trivially true
    const wrong = Buffer.from(xsalsa20(new Uint8Array(randomBytes(32)), nonce, wire.subarray(24, 44)))
    assert.notEqual(wrong.toString('latin1'), '\x13/multistream/1.0.0\n')
  }
})

test('swarm.force / LIBP2P_FORCE_PNET refuse to start without a key; bad key files and a managed swarm are config errors', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t)
  const port = 0 // nothing here needs to be dialled by port
  const dataDir = join(dir, 'data')

  const forced = createNode(nodeConfig(dataDir, port, { force: true }), { modules: [], setProcessLogLevel: false })
  await assert.rejects(forced.start(), (err: Error & { issues?: Array<{ key: string }> }) => {
    assert.equal(err.name, 'PrivateNetworkRequiredError')
    assert.match(err.message, /swarm\.force/)
    assert.equal(err.issues?.[0]?.key, 'swarm.keyFile')
    return true
  })
  assert.equal(existsSync(dataDir), false, 'a refused node created its data dir')

  // Kubo's variable does the same; a config without force still starts (positive control below)
  const saved = process.env.LIBP2P_FORCE_PNET
  process.env.LIBP2P_FORCE_PNET = '1'
  try {
    const envForced = createNode(nodeConfig(dataDir, port), { modules: [], setProcessLogLevel: false })
    await assert.rejects(envForced.start(), (err: Error) => err.name === 'PrivateNetworkRequiredError' && /LIBP2P_FORCE_PNET/.test(err.message))
  } finally {
    if (saved == null) delete process.env.LIBP2P_FORCE_PNET
    else process.env.LIBP2P_FORCE_PNET = saved
  }

  // a malformed key file names the file and the problem
  const bad = join(dir, 'bad.key')
  writeFileSync(bad, '/key/swarm/psk/1.0.0/\n/base16/\n1234\n')
  await assert.rejects(createNode(nodeConfig(dataDir, port, { keyFile: bad, force: true }), { modules: [], setProcessLogLevel: false }).start(),
    (err: Error) => err.name === 'SwarmKeyFileError' && err.message.includes(bad) && /32/.test(err.message))
  await assert.rejects(createNode(nodeConfig(dataDir, port, { keyFile: join(dir, 'missing.key') }), { modules: [], setProcessLogLevel: false }).start(),
    { name: 'SwarmKeyFileError' })

  // an allow-list without a key would restrict nothing: refused, naming the key
  await assert.rejects(createNode(nodeConfig(dataDir, port, { allow: ['12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'] }), { modules: [], setProcessLogLevel: false }).start(),
    (err: Error & { issues?: Array<{ key: string }> }) => err.name === 'ConfigError' && err.issues?.[0]?.key === 'swarm.allow')

  // a node that is in a managed swarm cannot also take a static key
  const keyFile = kuboKeyFile(dir, new Uint8Array(randomBytes(32)))
  const managedDir = join(dir, 'managed')
  writeSwarmState(join(managedDir, 'swarm.json'), {
    version: 1, name: 'lab', role: 'member', creator: '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN', epoch: 1,
    psk: Buffer.from(randomBytes(32)).toString('hex'), authorised: [], bootstrap: [], keyService: [], joined: true, invites: []
  })
  await assert.rejects(createNode(nodeConfig(managedDir, port, { keyFile }), { modules: [], setProcessLogLevel: false }).start(),
    (err: Error) => err.name === 'SwarmModeConflictError' && /"lab"/.test(err.message))

  // the key file's mode is reported (the daemon warns when others can read it)
  const loose = kuboKeyFile(dir, new Uint8Array(randomBytes(32)), 'loose.key')
  chmodSync(loose, 0o644)
  assert.equal(loadStaticSwarm(nodeConfig(dataDir, port, { keyFile: loose }))?.keyFileMode, '644')
  assert.equal(loadStaticSwarm(nodeConfig(dataDir, port, { keyFile }))?.keyFileMode, '600')
  assert.equal(loadStaticSwarm(nodeConfig(dataDir, port)), undefined)

  // positive control: force with a good key starts, inside the private network
  const ok = createNode(nodeConfig(dataDir, port, { keyFile, force: true }), { modules: [], setProcessLogLevel: false })
  t.after(async () => { await ok.stop() })
  await ok.start()
  assert.match(ok.network.profile.name, /^pnet:[0-9a-f]{8}$/)
  assert.ok(ok.network.profile.connectionProtector != null)
})

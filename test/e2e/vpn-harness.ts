/**
 * Test/bench harness for the VPN: N namespaces joined through a bridge in a hub namespace (libp2p
 * runs over those veth links), one vpn-node process per namespace, and JSON-line calls into each.
 * Everything is removed by the netns fixture's cleanup, also on failure.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createBridge } from '../../src/netdev/bridge.js'
import { daemonNodeFlags } from '../../src/cli/commands/up/node-flags.js'
import { netnsFixture, type NetnsFixture } from '../helpers/netns.js'
import type { TestContext } from 'node:test'
import { pause } from '../helpers/wait.js'

export interface VpnNodeProc {
  readonly label: string
  readonly ns: string
  readonly underlayIp: string
  readonly dataDir: string
  peerId: string
  addrs: string[]
  call: <T = unknown>(cmd: string, args?: Record<string, unknown>, timeoutMs?: number) => Promise<T>
  /** SIGKILL, wait for exit. */
  kill9: () => Promise<void>
  /** Starts the process again with the same data dir (same identity, persisted VPN state). */
  restart: () => Promise<void>
  /** Graceful stop (stdin closed, then SIGKILL after a grace period). */
  stop: () => Promise<void>
  stderrTail: () => string
}

export interface VpnWorld {
  net: NetnsFixture
  nodes: VpnNodeProc[]
  cleanup: () => Promise<void>
}

/**
 * `node` and its flags for a vpn-node: the daemon's own V8 flags (`dmsnet up` re-executes with
 * the same list; DMSNET_NODE_FLAGS replaces it in both, for a before/after), so that the VPN
 * benchmark measures the heap sizing a real VPN node runs with (docs/vpn.md, "GC storms").
 */
function runnerCommand (): string[] {
  const here = fileURLToPath(import.meta.url)
  const flags = daemonNodeFlags()
  if (here.endsWith('.js')) return [...flags, join(here, '..', 'vpn-node.js')]
  return ['--import', 'tsx', ...flags, join(here, '..', 'vpn-node.ts')]
}

export async function createVpnWorld (t: TestContext | undefined, labels: string[], options: { extraArgs?: string[], spawn?: boolean, argsFor?: Record<string, string[]> } = {}): Promise<VpnWorld> {
  const net = netnsFixture(t, 'dv')
  const nodes: VpnNodeProc[] = []
  const dirs: string[] = []
  const cleanup = async (): Promise<void> => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await net.cleanup()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
  try {
    const hub = await net.namespace('hub')
    const br = net.ifname('br')
    await createBridge({ name: br, netns: hub })
    const subnet = 10 + (process.pid % 200)
    for (const [i, label] of labels.entries()) {
      const ns = await net.namespace(label)
      const ipAddr = `10.${subnet}.0.${i + 1}`
      const { b } = await net.link(ns, `${ipAddr}/24`, hub, undefined)
      await net.exec(hub, 'ip', ['link', 'set', b, 'master', br])
      await net.exec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
      const dataDir = mkdtempSync(join(tmpdir(), `dmsnet-vpn-${label}-`))
      dirs.push(dataDir)
      nodes.push(spawnNode(label, ns, ipAddr, dataDir, [...(options.extraArgs ?? []), ...(options.argsFor?.[label] ?? [])]))
    }
    if (options.spawn !== false) await Promise.all(nodes.map(async n => { await n.restart() }))
    return { net, nodes, cleanup }
  } catch (err) {
    await cleanup()
    throw err
  }
}

/** A vpn-node process (not started: call `restart()`) in `ns`, listening on `underlayIp`. */
export function spawnNode (label: string, ns: string, underlayIp: string, dataDir: string, extraArgs: string[]): VpnNodeProc {
  let child: ChildProcessWithoutNullStreams | undefined
  let exited: Promise<void> = Promise.resolve()
  let nextId = 1
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  let stderr = ''

  const node: VpnNodeProc = {
    label,
    ns,
    underlayIp,
    dataDir,
    peerId: '',
    addrs: [],
    async call<T> (cmd: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
      if (child == null) throw new Error(`${label} is not running`)
      const id = nextId++
      const c = child
      return await new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${label}: ${cmd} timed out after ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (v) => { clearTimeout(timer); resolve(v as T) },
          reject: (e) => { clearTimeout(timer); reject(e) }
        })
        c.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`)
      })
    },
    async kill9 () {
      child?.kill('SIGKILL')
      await exited
    },
    async restart () {
      const args = [...runnerCommand(), '--data', dataDir, '--listen', `/ip4/${underlayIp}/tcp/4001`, '--name', label, ...extraArgs]
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
      child = c
      exited = new Promise(resolve => { c.once('exit', () => { resolve() }) })
      c.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20_000) })
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${label} did not start: ${stderr.slice(-2000)}`)) }, 60_000)
        c.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${label} exited with ${code}: ${stderr.slice(-2000)}`)) })
        createInterface({ input: c.stdout }).on('line', (line) => {
          let msg: { ready?: boolean, peerId?: string, addrs?: string[], id?: number, ok?: boolean, result?: unknown, error?: { name: string, message: string } }
          try { msg = JSON.parse(line) } catch { return }
          if (msg.ready === true) {
            node.peerId = msg.peerId!
            node.addrs = msg.addrs!
            clearTimeout(timer)
            resolve()
            return
          }
          const p = pending.get(msg.id ?? -1)
          if (p == null) return
          pending.delete(msg.id!)
          if (msg.ok === true) p.resolve(msg.result)
          else p.reject(Object.assign(new Error(`${label}: ${msg.error?.message}`), { name: msg.error?.name ?? 'Error' }))
        })
      })
      c.once('exit', (code, sig) => {
        if (code !== 0 && sig !== 'SIGKILL') process.stderr.write(`\n[vpn-node ${label}] exited (${code ?? sig}):\n${stderr.slice(-3000)}\n`)
        for (const p of pending.values()) p.reject(new Error(`${label} exited`))
        pending.clear()
        if (child === c) child = undefined
      })
      await ready
    },
    async stop () {
      const c = child
      if (c == null) return
      c.stdin.end()
      const timer = setTimeout(() => { c.kill('SIGKILL') }, 5000)
      await exited
      clearTimeout(timer)
    },
    stderrTail: () => stderr.slice(-4000)
  }
  return node
}

/** Polls `fn` until it holds, at most `timeoutMs` (the condition, not a fixed sleep, ends the wait). */
export async function waitUntil (fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await fn()) return
    await pause(100) // polling interval of a bounded wait for a condition
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The spec for `start`/`add`: peer id, name and underlay addresses. */
export function specOf (n: VpnNodeProc): { peerId: string, name: string, addrs: string[] } {
  return { peerId: n.peerId, name: n.label, addrs: n.addrs }
}

/** Runs `node -e script` inside a namespace; resolves with its stdout. */
export async function nodeIn (ns: string, script: string, args: string[] = [], timeoutMs = 120_000): Promise<string> {
  return await new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => { c.kill('SIGKILL') }, timeoutMs)
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.stderr.on('data', (d: Buffer) => { err += d.toString() })
    c.on('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`node -e in ${ns} exited ${code}: ${err.slice(-2000)}`))
    })
  })
}

const RECEIVER = `
const net = require('node:net'); const crypto = require('node:crypto')
const [host, port] = process.argv.slice(1)
const srv = net.createServer((s) => {
  const h = crypto.createHash('sha256'); let n = 0
  s.on('data', (d) => { h.update(d); n += d.length })
  s.on('end', () => { console.log(JSON.stringify({ bytes: n, sha256: h.digest('hex') })); s.end(); srv.close() })
})
srv.listen(Number(port), host, () => console.log('listening'))
setTimeout(() => process.exit(4), 110000).unref()`

const SENDER = `
const net = require('node:net'); const crypto = require('node:crypto')
const [host, port, total] = process.argv.slice(1)
const h = crypto.createHash('sha256'); let sent = 0; const t0 = Date.now()
const s = net.connect(Number(port), host, () => {
  const pump = () => {
    while (sent < Number(total)) {
      const chunk = crypto.randomBytes(Math.min(1 << 20, Number(total) - sent))
      h.update(chunk); sent += chunk.length
      if (!s.write(chunk)) { s.once('drain', pump); return }
    }
    s.end()
  }
  pump()
})
s.on('close', () => console.log(JSON.stringify({ bytes: sent, sha256: h.digest('hex'), seconds: (Date.now() - t0) / 1000 })))
s.on('error', (e) => { console.error(e); process.exit(5) })`

/** Sends `bytes` of random data over TCP from one namespace to `toIp` in another; returns both ends' hashes. */
export async function tcpTransfer (fromNs: string, toNs: string, toIp: string, bytes: number): Promise<{ sent: { bytes: number, sha256: string, seconds: number }, received: { bytes: number, sha256: string } }> {
  const port = String(7000 + (process.pid % 1000))
  let ready: () => void = () => {}
  const listening = new Promise<void>(resolve => { ready = resolve })
  const recv = new Promise<string>((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', toNs, process.execPath, '-e', RECEIVER, toIp, port], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) ready() })
    c.on('exit', (code) => { if (code === 0) resolve(out); else reject(new Error(`receiver exited ${code}`)) })
  })
  await listening
  const sent = JSON.parse(await nodeIn(fromNs, SENDER, [toIp, port, String(bytes)])) as { bytes: number, sha256: string, seconds: number }
  const lines = (await recv).trim().split('\n')
  return { sent, received: JSON.parse(lines[lines.length - 1]!) as { bytes: number, sha256: string } }
}

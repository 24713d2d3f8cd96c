/**
 * The demo's VPN playground: network namespaces of its own (a hub with a bridge, and one
 * namespace per node joined to it by a veth pair with a private 10.77.0.x address), one real
 * `dmsnet up` daemon per node namespace, and a cleanup that stops the daemons, deletes the
 * namespaces and removes the data dirs. Cleanup never throws, can run any number of times, and
 * removes at once anything a setup still in flight creates after it ran (Ctrl-C mid-setup).
 *
 * All traffic stays inside these namespaces: they have no route anywhere else.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createControlClient, type ControlClient } from '../control/index.js'
import { CLUSTER_DIR_PREFIX } from './cluster.js'
import { attachToBridge, createBridge } from '../netdev/bridge.js'
import { createNetns, deleteNetns, listNetns } from '../netdev/netns.js'
import { createVeth } from '../netdev/veth.js'

/** The namespaces' private underlay: isolated per run (each run has its own hub), so fixed. */
export const UNDERLAY_PREFIX = '10.77.0.'
/** Every namespace the demo makes starts with this (plus the pid), so leftovers are easy to spot. */
export const NETNS_PREFIX = 'dmsdemo-'

export interface VpnDaemon {
  label: string
  ns: string
  underlayIp: string
  dataDir: string
  peerId: string
  socket: string
  client: ControlClient
}

export interface VpnWorld {
  readonly daemons: VpnDaemon[]
  /** Creates the namespaces and links for `labels` (hub first). */
  build (labels: string[], options?: { signal?: AbortSignal }): Promise<void>
  /** Starts `dmsnet up` inside the namespace of `label`; resolves once it printed "ready". */
  startDaemon (label: string, env?: Record<string, string>, options?: { signal?: AbortSignal }): Promise<VpnDaemon>
  /** Runs a command inside a node's namespace; resolves with its exit code and output (never throws). */
  exec (label: string, command: string, args: string[], timeoutMs?: number): Promise<{ code: number | null, stdout: string, stderr: string }>
  nsOf (label: string): string
  cleanup (): Promise<void>
}

/**
 * Why the VPN part cannot run here, or undefined when it can: it needs root, /dev/net/tun,
 * iproute2's `ip`, `ping`, and the compiled CLI (or tsx when running from source).
 */
export function vpnSkipReason (): string | undefined {
  if (process.platform !== 'linux') return `the VPN needs Linux (this is ${process.platform})`
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'not running as root: the VPN part needs root for network namespaces and TUN devices (try: sudo npm start)'
  }
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun on this machine (in a container: run it with --device /dev/net/tun)'
  if (spawnSync('ip', ['-V'], { stdio: 'ignore' }).error != null) return '`ip` (iproute2) is not installed'
  if (spawnSync('ping', ['-V'], { stdio: 'ignore' }).error != null) return '`ping` (iputils-ping) is not installed'
  const cli = cliArgs()
  const entry = cli[cli.length - 1]!
  if (!existsSync(entry)) return `the dmsnet CLI is missing at ${entry} (run npm run build)`
  return undefined
}

let setpriv: boolean | undefined
function deathSignal (): string[] {
  setpriv ??= spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') === true
  return setpriv ? ['setpriv', '--pdeathsig', 'TERM', '--'] : []
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes what an earlier demo left behind when it was killed before it could clean up: its
 * namespaces, daemon data dirs and cluster data dir, once that demo's process is gone and none of its daemons runs.
 * Returns the names removed. Never throws.
 */
export async function sweepLeftovers (): Promise<string[]> {
  const removed: string[] = []
  try {
    const tagOf = (name: string): number | undefined => {
      const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name)
      return m == null ? undefined : Number(m[1])
    }
    const clusterTagOf = (name: string): number | undefined => {
      const m = new RegExp(`^${CLUSTER_DIR_PREFIX}(\\d+)-`).exec(name)
      return m == null ? undefined : Number(m[1])
    }
    const stale = (pid: number): boolean => pid !== process.pid && !alive(pid) && !daemonRunning(pid)
    for (const ns of await listNetns()) {
      const pid = tagOf(ns)
      if (pid != null && stale(pid)) {
        await deleteNetns(ns).then(() => { removed.push(ns) }, () => {})
      }
    }
    for (const d of await readdir(tmpdir())) {
      const pid = tagOf(d) ?? clusterTagOf(d)
      if (pid != null && stale(pid)) {
        await rm(join(tmpdir(), d), { recursive: true, force: true }).then(() => { removed.push(join(tmpdir(), d)) }, () => {})
      }
    }
  } catch { /* best effort */ }
  return removed
}

/** Whether a daemon of demo `pid` still runs (its data dir is on its command line). */
function daemonRunning (pid: number): boolean {
  try {
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue
      try {
        if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${NETNS_PREFIX}${pid}-`)) return true
      } catch { /* gone meanwhile */ }
    }
  } catch { /* no /proc: assume yes, and leave things alone */ return true }
  return false
}

/** `node` arguments that run the dmsnet CLI: the compiled entry next to us, or the source under tsx. */
export function cliArgs (): string[] {
  const here = fileURLToPath(import.meta.url)
  const main = join(here, '..', '..', 'cli', here.endsWith('.ts') ? 'main.ts' : 'main.js')
  return here.endsWith('.ts') ? ['--import', 'tsx', main] : [main]
}

/** The demo stopped while the setup was still running. */
class Closed extends Error {
  override name = 'AbortError'
  constructor () { super('the demo is stopping') }
}

export interface VpnWorldOptions {
  /** Told when a daemon exits while the world is up (it crashed, or someone ran `dmsnet stop`). */
  onDaemonExit?: (label: string, stderrTail: string) => void
}

export function createVpnWorld (worldOptions: VpnWorldOptions = {}): VpnWorld {
  const tag = `${NETNS_PREFIX}${process.pid}`
  const namespaces: string[] = []
  const dirs: string[] = []
  const children: Array<{ child: ChildProcess, exited: Promise<void> }> = []
  const daemons: VpnDaemon[] = []
  const labelIndex = new Map<string, number>()
  let closed = false
  let cleaning: Promise<void> | undefined

  const nsOf = (label: string): string => `${tag}-${label}`

  async function stopChild (c: { child: ChildProcess, exited: Promise<void> }): Promise<void> {
    if (c.child.exitCode != null || c.child.signalCode != null) return
    c.child.kill('SIGINT')
    const timer = setTimeout(() => { c.child.kill('SIGKILL') }, 8000)
    await c.exited
    clearTimeout(timer)
  }

  async function removeAll (): Promise<void> {
    await Promise.all(children.splice(0).map(async c => { await stopChild(c).catch(() => {}) }))
    for (const ns of namespaces.splice(0).reverse()) {
      try { await deleteNetns(ns) } catch { /* cleanup never throws */ }
    }
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }).catch(() => {})
  }

  /** Called after creating something: if cleanup already ran, remove it now and stop the setup. */
  async function checkOpen (): Promise<void> {
    if (!closed) return
    await removeAll()
    throw new Closed()
  }

  const world: VpnWorld = {
    daemons,
    nsOf,
    async build (labels, options) {
      if (closed) throw new Closed()
      const hub = nsOf('hub')
      namespaces.push(hub)
      await createNetns(hub, options)
      await checkOpen()
      await createBridge({ name: 'br0', netns: hub }, options)
      for (const [i, label] of labels.entries()) {
        const ns = nsOf(label)
        namespaces.push(ns)
        await createNetns(ns, options)
        await checkOpen()
        labelIndex.set(label, i)
        // created straight in the two namespaces, so the names only need to be unique there
        await createVeth({
          a: { name: 'eth0', netns: ns, addresses: [`${UNDERLAY_PREFIX}${i + 1}/24`] },
          b: { name: `veth-${label}`, netns: hub }
        }, options)
        await attachToBridge('br0', `veth-${label}`, { netns: hub, signal: options?.signal })
      }
    },
    async startDaemon (label, env = {}, options) {
      if (closed) throw new Closed()
      const i = labelIndex.get(label)
      if (i == null) throw new Error(`no namespace for ${label}`)
      const ns = nsOf(label)
      const underlayIp = `${UNDERLAY_PREFIX}${i + 1}`
      const dataDir = await mkdtemp(join(tmpdir(), `${tag}-${label}-`))
      dirs.push(dataDir)
      await checkOpen()
      // setpriv --pdeathsig: should the demo itself be killed (SIGKILL, no cleanup), the daemons
      // still get SIGTERM and stop instead of running on in namespaces nobody deletes
      const child = spawn('ip', ['netns', 'exec', ns, ...deathSignal(), process.execPath, ...cliArgs(), '--data-dir', dataDir, 'up',
        '--listen', `/ip4/${underlayIp}/tcp/4001`, '--no-mdns', '--no-metrics',
        // explicit, so a DMSNET_CONTROL_SOCKET in the user's environment cannot make them share one
        '--socket', join(dataDir, 'control.sock')], {
        env: { ...process.env, DMSNET_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      const exited = new Promise<void>(resolve => { child.once('close', () => { resolve() }) })
      children.push({ child, exited })
      let out = ''
      let err = ''
      child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000) })
      child.stdout.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-8000) })
      await new Promise<void>((resolve, reject) => {
        const done = (e?: Error): void => {
          clearTimeout(timer)
          child.stdout.off('data', onData)
          options?.signal?.removeEventListener('abort', onAbort)
          if (e == null) resolve(); else reject(e)
        }
        const onData = (): void => { if (out.includes('dmsnet: ready')) done() }
        const onAbort = (): void => { done(new Closed()) }
        const timer = setTimeout(() => { done(new Error(`daemon ${label} not ready after 60 s: ${tail(err)}`)) }, 60_000)
        child.stdout.on('data', onData)
        options?.signal?.addEventListener('abort', onAbort)
        void exited.then(() => { done(new Error(`daemon ${label} exited: ${tail(err)}`)) })
      })
      void exited.then(() => { if (!closed) worldOptions.onDaemonExit?.(label, tail(err)) })
      const peerId = /^peer id: +(\S+)/m.exec(out)?.[1]
      const socket = /^control: +(\S+)/m.exec(out)?.[1]
      if (peerId == null || socket == null) throw new Error(`daemon ${label}: no peer id / control socket in its output`)
      const d: VpnDaemon = { label, ns, underlayIp, dataDir, peerId, socket, client: createControlClient({ socket }) }
      daemons.push(d)
      return d
    },
    async exec (label, command, args, timeoutMs = 20_000) {
      return await new Promise(resolve => {
        const c = spawn('ip', ['netns', 'exec', nsOf(label), command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
        let stdout = ''
        let stderr = ''
        const timer = setTimeout(() => { c.kill('SIGKILL') }, timeoutMs)
        c.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
        c.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
        c.once('error', e => { clearTimeout(timer); resolve({ code: null, stdout, stderr: stderr + e.message }) })
        c.once('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
      })
    },
    async cleanup () {
      closed = true
      cleaning ??= removeAll()
      await cleaning
      // something created while the first pass ran (the setup's own checkOpen removes it too)
      await removeAll()
      // a namespace whose creation was cut short may exist without having been recorded
      try {
        for (const ns of await listNetns()) {
          if (ns.startsWith(`${tag}-`)) await deleteNetns(ns).catch(() => {})
        }
      } catch { /* cleanup never throws */ }
    }
  }
  return world
}

/** The last lines of a daemon's stderr on one line (the demo prints one line per event). */
function tail (stderr: string): string {
  return stderr.trim().split('\n').slice(-4).map(l => l.trim()).join(' | ').slice(-600)
}

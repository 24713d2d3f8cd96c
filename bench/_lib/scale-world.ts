/**
 * The scale bench's world: one network namespace per daemon (`dmsscale-<pid>-<i>`), the link
 * process that joins them with emulated internet links (scale-linkd.ts), and one real `dmsnet up`
 * per namespace, driven through its control socket (the namespaces share the filesystem).
 *
 * Nothing leaves these namespaces: a node's only route is its TUN into the link process, which
 * forwards only to the other nodes' addresses. `close()` stops the daemons, the link process
 * (its TUNs go with it) and deletes the namespaces and data dirs; `sweepScaleLeftovers()` removes
 * what a killed earlier run left behind (by the name prefix, once that run's process is gone).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createControlClient, type ControlClient } from '../../src/control/index.js'
import { createNetns, deleteNetns, listNetns } from '../../src/netdev/netns.js'
import type { LinkdOptions, LinkdStats } from './scale-linkd.js'

export const SCALE_PREFIX = 'dmsscale-'

export interface ScaleNode {
  index: number
  site: number
  ns: string
  ip: string
  dataDir: string
  peerId: string
  /** `/ip4/<ip>/tcp/4001/p2p/<id>` */
  addr: string
  pid: number
  client: ControlClient
  /** last lines of its stderr (logs at warn) */
  stderrTail: () => string
  exited: boolean
  /** control calls that failed on the socket while the daemon ran, and were made again */
  controlRetries: string[]
}

/**
 * A control client whose unary calls are made again (up to 3 times, 1 s apart) when the control
 * socket fails while the daemon still runs: under a load average of 30+ this process or the daemon
 * can be too slow for the socket (a keep-alive connection the daemon closed just as it was
 * reused: ECONNRESET; a full accept queue). A dead daemon is not retried; the bench fails on it.
 */
function retryingClient (client: ControlClient, node: ScaleNode): ControlClient {
  const call = (async (method: string, params?: unknown, opts?: { signal?: AbortSignal }) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await client.callUnchecked(method, params, opts)
      } catch (err) {
        const e = err as Error & { code?: string }
        const socketTrouble = e.name === 'DaemonNotRunningError' || e.code === 'EAGAIN' || e.code === 'ECONNRESET'
        if (!socketTrouble || attempt >= 3 || node.exited || opts?.signal?.aborted === true) throw err
        node.controlRetries.push(`${method}: ${e.name} ${e.message}`)
        await new Promise(resolve => setTimeout(resolve, 1000))
        if (node.exited) throw err
      }
    }
  }) as ControlClient['call']
  return { ...client, call }
}

export interface WorldOptions {
  rtt: number[][]
  loss: number
  rateBitsPerSec: number
  maxQueueMs: number
  seed: number
  /** AutoNAT, DCUtR and the relay client off (they are on in a default `dmsnet up`) */
  lean?: boolean
  /** the daemons' connection trim marks (network.connectionManager.lowWater/highWater) */
  connectionWater?: { lowWater: number, highWater: number }
  /** the node binary the daemons run (bench/_lib/node-binary.ts: a cold copy), one for all or one per daemon index; default: this process's */
  execPath?: string | ((index: number) => string)
  /** called when a daemon exits before close() */
  onExit?: (node: ScaleNode, code: number | null) => void
}

const PORT = 4001
const IFNAME = 'sim0'

function execPathOf (o: WorldOptions, i: number): string {
  return typeof o.execPath === 'function' ? o.execPath(i) : o.execPath ?? process.execPath
}

/** `10.99.x.y` for node i (the /16 is routed into each namespace's TUN). */
export function nodeIp (i: number): string {
  return `10.99.${Math.floor(i / 200)}.${(i % 200) + 10}`
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/** Whether any process still has `dmsscale-<pid>-` on its command line (a daemon of that run). */
function runStillHasDaemons (pid: number): boolean {
  try {
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue
      try { if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${SCALE_PREFIX}${pid}-`)) return true } catch { /* gone */ }
    }
  } catch { return true }
  return false
}

/** Deletes namespaces and data dirs of earlier runs whose bench process is gone. Never throws. */
export async function sweepScaleLeftovers (): Promise<string[]> {
  const removed: string[] = []
  const tagOf = (name: string): number | undefined => {
    const m = new RegExp(`^${SCALE_PREFIX}(\\d+)-`).exec(name)
    return m == null ? undefined : Number(m[1])
  }
  const stale = (pid: number): boolean => pid !== process.pid && !alive(pid) && !runStillHasDaemons(pid)
  try {
    for (const ns of await listNetns()) {
      const pid = tagOf(ns)
      if (pid != null && stale(pid)) await deleteNetns(ns).then(() => { removed.push(ns) }, () => {})
    }
    for (const d of await readdir(tmpdir())) {
      const pid = tagOf(d)
      if (pid != null && stale(pid)) await rm(join(tmpdir(), d), { recursive: true, force: true }).then(() => { removed.push(d) }, () => {})
    }
  } catch { /* best effort */ }
  return removed
}

let setpriv: boolean | undefined
/** setpriv --pdeathsig: a killed bench takes its children with it instead of leaving them running. */
function deathSignal (): string[] {
  setpriv ??= spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') === true
  return setpriv ? ['setpriv', '--pdeathsig', 'TERM', '--'] : []
}

let chrt: boolean | undefined
/** `chrt -f 10`: SCHED_FIFO for the link process, when chrt exists and is allowed. */
function realtime (): string[] {
  chrt ??= spawnSync('chrt', ['-f', '10', 'true']).status === 0
  return chrt ? ['chrt', '-f', '10'] : []
}

const here = fileURLToPath(import.meta.url)
const CLI = join(here, '..', '..', '..', 'src', 'cli', 'main.js')
const LINKD = join(here, '..', 'scale-linkd.js')

export interface ScaleWorld {
  readonly nodes: ScaleNode[]
  /** the link process (its CPU is the emulation's cost) */
  readonly linkdPid: number
  /** Creates node i's namespace and TUN and starts its daemon; resolves once it is ready. */
  addNode (i: number, site: number, bootstrap: string[], env?: Record<string, string>): Promise<ScaleNode>
  /** The link process's counters; `resetPeaks` starts its maxima over (one phase each). */
  linkStats (resetPeaks?: boolean): Promise<LinkdStats>
  /** Runs a command inside node i's namespace (never throws). */
  exec (i: number, cmd: string, args: string[], timeoutMs?: number): Promise<{ code: number | null, stdout: string }>
  close (): Promise<void>
}

export async function createScaleWorld (o: WorldOptions): Promise<ScaleWorld> {
  const tag = `${SCALE_PREFIX}${process.pid}`
  const nodes: ScaleNode[] = []
  const children: Array<{ child: ChildProcess, exited: Promise<void> }> = []
  const namespaces: string[] = []
  const dirs: string[] = []
  let closing = false

  const linkdOptions: LinkdOptions = { rtt: o.rtt, loss: o.loss, rateBitsPerSec: o.rateBitsPerSec, maxQueueMs: o.maxQueueMs, seed: o.seed, prefix: 16, ifname: IFNAME, mtu: 1500 }
  // real-time priority: on a loaded machine an ordinary process wakes up tens of ms late, and
  // that lateness would be added to every emulated link (it measured +40 ms RTT at load 20)
  const linkdArgv = [...realtime(), ...deathSignal(), process.execPath, LINKD, JSON.stringify(linkdOptions)]
  const linkd = spawn(linkdArgv[0]!, linkdArgv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })
  const linkdExited = new Promise<void>(resolve => linkd.once('close', () => { resolve() }))
  const replies: Array<{ resolve: (v: unknown) => void, reject: (e: Error) => void }> = []
  createInterface({ input: linkd.stdout! }).on('line', (l) => {
    const r = JSON.parse(l) as { ok?: unknown, error?: string }
    const w = replies.shift()
    if (r.error != null) w?.reject(new Error(`link process: ${r.error}`)); else w?.resolve(r.ok)
  })
  void linkdExited.then(() => { for (const w of replies.splice(0)) w.reject(new Error('the link process exited')) })

  async function linkd$ <T> (req: Record<string, unknown>): Promise<T> {
    if (linkd.exitCode != null) throw new Error('the link process exited')
    return await new Promise<T>((resolve, reject) => {
      replies.push({ resolve: resolve as (v: unknown) => void, reject })
      linkd.stdin!.write(JSON.stringify(req) + '\n')
    })
  }

  async function stopChild (c: { child: ChildProcess, exited: Promise<void> }): Promise<void> {
    if (c.child.exitCode == null && c.child.signalCode == null) {
      c.child.kill('SIGTERM')
      const t = setTimeout(() => { c.child.kill('SIGKILL') }, 20_000)
      await c.exited
      clearTimeout(t)
    }
  }

  return {
    nodes,
    linkdPid: linkd.pid!,
    async addNode (i, site, bootstrap, env = {}) {
      if (closing) throw new Error('the world is closing')
      const ns = `${tag}-${i}`
      const ip = nodeIp(i)
      namespaces.push(ns)
      await createNetns(ns)
      await linkd$({ op: 'add', node: i, netns: ns, ip, site })
      const dataDir = await mkdtemp(join(tmpdir(), `${tag}-${i}-`))
      dirs.push(dataDir)
      const config = {
        dataDir,
        profile: 'server',
        logging: { level: 'warn' },
        network: {
          listen: [`/ip4/${ip}/tcp/${PORT}`],
          bootstrap,
          // every node here is reachable on its address: serve the DHT (auto mode would stay a
          // client, since 10.99/16 is not a public address)
          dht: { mode: 'server' },
          // everything else as a fresh `dmsnet up` has it (AutoNAT, DCUtR, relay client on),
          // unless asked for lean nodes
          ...(o.lean === true ? { autonat: { enabled: false }, dcutr: { enabled: false }, relay: { client: false } } : {}),
          mdns: { enabled: false },
          ...(o.connectionWater != null ? { connectionManager: o.connectionWater } : {})
        },
        control: { socket: join(dataDir, 'control.sock') },
        vpn: { acceptInvitesFrom: ['*'] }
      }
      const cfgFile = join(dataDir, 'config.json')
      await writeFile(cfgFile, JSON.stringify(config))
      const child = spawn('ip', ['netns', 'exec', ns, ...deathSignal(), execPathOf(o, i), CLI, '--config', cfgFile, 'up', '--no-metrics'], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      const exited = new Promise<void>(resolve => { child.once('close', () => { resolve() }) })
      children.push({ child, exited })
      let out = ''
      let err = ''
      child.stdout!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-8000) })
      child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-6000) })
      const tail = (): string => err.trim().split('\n').slice(-5).join(' | ').slice(-1500)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`node ${i} not ready after 120 s: ${tail()}`)) }, 120_000)
        const onData = (): void => { if (out.includes('dmsnet: ready')) { clearTimeout(timer); child.stdout!.off('data', onData); resolve() } }
        child.stdout!.on('data', onData)
        void exited.then(() => { clearTimeout(timer); reject(new Error(`node ${i} exited before ready: ${tail()}`)) })
      })
      const peerId = /^peer id: +(\S+)/m.exec(out)?.[1]
      if (peerId == null) throw new Error(`node ${i}: no peer id in its output`)
      const node: ScaleNode = {
        index: i,
        site,
        ns,
        ip,
        dataDir,
        peerId,
        addr: `/ip4/${ip}/tcp/${PORT}/p2p/${peerId}`,
        pid: child.pid!,
        client: createControlClient({ socket: join(dataDir, 'control.sock') }),
        stderrTail: tail,
        exited: false,
        controlRetries: []
      }
      node.client = retryingClient(node.client, node)
      void exited.then(() => {
        node.exited = true
        if (!closing) o.onExit?.(node, child.exitCode)
      })
      nodes[i] = node
      return node
    },
    async linkStats (resetPeaks = false) { return await linkd$<LinkdStats>({ op: 'stats', resetPeaks }) },
    async exec (i, cmd, args, timeoutMs = 30_000) {
      return await new Promise(resolve => {
        const c = spawn('ip', ['netns', 'exec', `${tag}-${i}`, cmd, ...args], { stdio: ['ignore', 'pipe', 'ignore'] })
        let stdout = ''
        const t = setTimeout(() => { c.kill('SIGKILL') }, timeoutMs)
        c.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
        c.once('error', () => { clearTimeout(t); resolve({ code: null, stdout }) })
        c.once('close', code => { clearTimeout(t); resolve({ code, stdout }) })
      })
    },
    async close () {
      closing = true
      await Promise.all(children.splice(0).map(async c => { await stopChild(c).catch(() => {}) }))
      linkd.stdin!.end()
      const t = setTimeout(() => { linkd.kill('SIGKILL') }, 10_000)
      await linkdExited
      clearTimeout(t)
      for (const ns of namespaces.splice(0)) await deleteNetns(ns).catch(() => {})
      // a namespace whose creation was cut short may exist without having been recorded
      for (const ns of await listNetns().catch(() => [] as string[])) {
        if (ns.startsWith(`${tag}-`)) await deleteNetns(ns).catch(() => {})
      }
      for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }).catch(() => {})
    }
  }
}

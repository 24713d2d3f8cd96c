/**
 * `watchLinkUp`: calls back each time a device is set administratively up again after being down.
 * Why: `ip link set dev X down` makes the kernel drop what was configured on X (its routes, and its
 * IPv6 addresses unless keep_addr_on_down), and `up` brings back only the IPv4 prefix routes, bare;
 * whoever configured X must put the rest back, and needs to hear of the `up` to do it.
 * How: one `ip [-n NS] -o monitor link dev X` child per watched device (rtnetlink link events, one
 * line each). It costs ~2 MB of RSS and no CPU while nothing happens: cheaper than polling, and
 * without a netlink socket in the native addon. The child is killed by `close()`; it is unref'd so a
 * forgotten watcher cannot keep the process alive (an orphan exits at its next event, its pipe closed).
 * `ip monitor` says nothing when it starts listening, so `ready` sets the device's ifalias (a link
 * event that changes nothing the data path uses) until the monitor reports it: a down/up after
 * `ready` is never missed. The waits between those `ip` calls double (100 ms up to 1 s): on a
 * starved machine the monitor itself takes long to start, and twenty members opening their
 * devices at once with a fresh `ip` child every 100 ms each made that worse (stop 28, docs/vpn.md).
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { sleep } from '../util/sleep.js'
import { ip } from './exec.js'
import { checkInterfaceName } from './validate.js'

export interface LinkWatch {
  /** Resolves true once the monitor listens (false: it did not within READY_TRIES tries, ~7.5 s, or ended). */
  ready: Promise<boolean>
  /** Stops watching (kills the monitor). */
  close: () => void
}

/** Alias sets at most while waiting for the monitor, the first wait after one, and the longest. */
const READY_TRIES = 10
const READY_FIRST_WAIT_MS = 100
const READY_MAX_WAIT_MS = 1000

export interface LinkWatchOptions {
  netns?: string
  /** The ifalias set while waiting for the monitor (`ip link show` prints it). */
  alias: string
  /** The device came up after having been down. */
  onUp: () => void
  /** The monitor ended (or could not start) while still watched: no more `onUp`. */
  onExit?: (reason: string) => void
}

/** The flags of a one-line `ip -o monitor link` message: `2: X: <NO-CARRIER,POINTOPOINT,UP> mtu ...`. */
export function linkFlags (line: string): string[] | undefined {
  const m = /^\d+: [^:]+: <([A-Z0-9_,-]*)>/.exec(line)
  return m?.[1]?.split(',')
}

/** Watches `dev`, which is up now: `onUp` after each down -> up. */
export function watchLinkUp (dev: string, options: LinkWatchOptions): LinkWatch {
  checkInterfaceName(dev)
  const args = [...(options.netns != null ? ['-n', options.netns] : []), '-o', 'monitor', 'link', 'dev', dev]
  const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let closed = false
  let up = true
  let stderr = ''
  let heard: (() => void) | undefined
  const firstLine = new Promise<void>(resolve => { heard = resolve })
  const ended = (reason: string): void => {
    if (closed) return
    closed = true
    options.onExit?.(reason)
  }
  child.on('error', (err) => { ended(err.message) })
  child.on('exit', (code, signal) => { ended(`ip monitor exited (${signal ?? code ?? '?'})${stderr !== '' ? `: ${stderr.trim()}` : ''}`) })
  child.stderr.on('data', (b: Buffer) => { if (stderr.length < 1000) stderr += b.toString('utf8') })
  // a "Deleted" line has no flags to read: the device is gone, its owner closes the watch
  createInterface({ input: child.stdout }).on('line', (line) => {
    heard?.()
    const flags = linkFlags(line)
    if (flags == null) return
    const now = flags.includes('UP')
    if (now && !up && !closed) options.onUp()
    up = now
  })
  child.unref()
  // a ChildProcess's pipes hold the event loop on their own
  for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.()
  const ready = (async () => {
    for (let i = 0; i < READY_TRIES && !closed; i++) {
      // a failure (device gone) is the caller's to see in its own next step
      await ip(['link', 'set', 'dev', dev, 'alias', options.alias], options.netns).catch(() => {})
      const wait = Math.min(READY_MAX_WAIT_MS, READY_FIRST_WAIT_MS * 2 ** i)
      const got = await Promise.race([firstLine.then(() => true), sleep(wait).then(() => false)])
      if (got) return !closed
    }
    return false
  })()
  return {
    ready,
    close () {
      if (closed) return
      closed = true
      child.kill()
    }
  }
}

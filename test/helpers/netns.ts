/**
 * Network namespace fixture for root tests: unique namespaces (named with the pid and a counter,
 * so parallel runs never clash), veth pairs between them, addresses, commands run inside one, and
 * a cleanup that removes everything it made and never throws.
 *
 *   const net = netnsFixture(t)            // t.after(cleanup) is registered for you
 *   const a = await net.namespace('a')     // "dn1234-a"
 *   const b = await net.namespace('b')
 *   await net.link(a, '10.9.0.1/24', b, '10.9.0.2/24')
 *   await net.exec(a, 'ping', ['-c1', '-W2', '10.9.0.2'])
 */
import { execFile } from 'node:child_process'
import type { TestContext } from 'node:test'
import { createNetns, deleteNetns } from '../../src/netdev/netns.js'
import { createVeth } from '../../src/netdev/veth.js'

let counter = 0

export interface NetnsFixture {
  /** a unique short token (for interface names: keep those within 15 characters) */
  readonly id: string
  /** Creates namespace `<prefix><pid>-<label>` with loopback up; returns its name. */
  namespace: (label: string) => Promise<string>
  /**
   * Joins two namespaces (either may be undefined = the test's own namespace) with a veth pair,
   * addresses both ends and brings them up. Returns the ends' interface names.
   */
  link: (nsA: string | undefined, cidrA: string | undefined, nsB: string | undefined, cidrB: string | undefined, opts?: { mtu?: number }) => Promise<{ a: string, b: string }>
  /** Runs a command in a namespace; resolves with stdout, rejects with an Error carrying stderr. */
  exec: (ns: string, command: string, args?: string[], opts?: { timeoutMs?: number }) => Promise<string>
  /** Like exec but resolves with the exit code instead of throwing. */
  status: (ns: string, command: string, args?: string[], opts?: { timeoutMs?: number }) => Promise<{ code: number, stdout: string, stderr: string }>
  /** A unique interface name `<stem><id><n>` of at most 15 characters. */
  ifname: (stem: string) => string
  /** Registers extra cleanup (run first, in reverse order). */
  defer: (fn: () => unknown) => void
  cleanup: () => Promise<void>
}

export function netnsFixture (t?: TestContext, prefix = 'dn'): NetnsFixture {
  const id = `${process.pid % 100000}${(counter++).toString(36)}`
  const namespaces: string[] = []
  const deferred: Array<() => unknown> = []
  let ifn = 0

  const status = async (ns: string, command: string, args: string[] = [], opts: { timeoutMs?: number } = {}): Promise<{ code: number, stdout: string, stderr: string }> =>
    await new Promise(resolve => {
      execFile('ip', ['netns', 'exec', ns, command, ...args], { timeout: opts.timeoutMs ?? 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        const code = err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
        resolve({ code, stdout, stderr })
      })
    })

  const fixture: NetnsFixture = {
    id,
    namespace: async (label) => {
      const name = `${prefix}${id}-${label}`
      namespaces.push(name)
      await createNetns(name)
      return name
    },
    link: async (nsA, cidrA, nsB, cidrB, opts = {}) => {
      const a = fixture.ifname('va')
      const b = fixture.ifname('vb')
      // ends in our own namespace are not removed by deleting a namespace: remember them
      if (nsA == null || nsB == null) deferred.push(async () => { await run('ip', ['link', 'del', nsA == null ? a : b]) })
      await createVeth({
        a: { name: a, netns: nsA, addresses: cidrA == null ? [] : [cidrA] },
        b: { name: b, netns: nsB, addresses: cidrB == null ? [] : [cidrB] },
        mtu: opts.mtu
      })
      return { a, b }
    },
    exec: async (ns, command, args = [], opts = {}) => {
      const r = await status(ns, command, args, opts)
      if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} in ${ns} exited ${r.code}: ${r.stderr.trim()}`)
      return r.stdout
    },
    status,
    ifname: (stem) => {
      const n = `${stem}${id}${(ifn++).toString(36)}`
      if (n.length > 15) throw new Error(`interface name ${n} too long: use a shorter stem`)
      return n
    },
    defer: (fn) => { deferred.push(fn) },
    cleanup: async () => {
      for (const fn of deferred.splice(0).reverse()) {
        try { await fn() } catch { /* cleanup never throws */ }
      }
      for (const ns of namespaces.splice(0).reverse()) {
        try { await deleteNetns(ns) } catch { /* cleanup never throws */ }
      }
    }
  }
  t?.after(async () => { await fixture.cleanup() })
  return fixture
}

async function run (cmd: string, args: string[]): Promise<void> {
  await new Promise<void>(resolve => { execFile(cmd, args, () => { resolve() }) })
}

/**
 * Tiny TCP server and client run inside a namespace (`ip netns exec NS node -e ...`) for firewall
 * and routing tests: the server answers each connection with "<tag> <peer address>". The client
 * tells apart an answer, a refusal (RST / ICMP error, with its errno) and silence (no answer within
 * the window), so a test can say which of them it expects.
 */
import { execFile, spawn } from 'node:child_process'
import type { TestContext } from 'node:test'

export async function startTcpServer (t: TestContext, ns: string, address: string, port: number, tag: string): Promise<void> {
  const script = `const s=require('net').createServer(c=>{c.end('${tag} '+c.remoteAddress+'\\n')});s.listen(${port},'${address}',()=>console.log('ready'));setTimeout(()=>process.exit(0),120000)`
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => { child.kill() })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready')) resolve() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('exit', code => { reject(new Error(`server exited ${code}: ${err}`)) })
  })
}

export type TcpOutcome =
  | { kind: 'answer', text: string }
  | { kind: 'refused', code: string }
  | { kind: 'silent' }

/**
 * Connects from `ns`; `silentMs` is how long the client waits, once connecting, before it calls the
 * path silent (the window starts inside the client, so process start-up does not eat into it).
 */
export async function tcpProbe (ns: string, host: string, port: number, silentMs = 1500): Promise<TcpOutcome> {
  const script = `const c=require('net').connect({host:'${host}',port:${port}});let d='';c.on('data',x=>d+=x);c.on('end',()=>{process.stdout.write('A'+d);process.exit(0)});c.on('error',e=>{process.stdout.write('R'+e.code);process.exit(0)});setTimeout(()=>{process.stdout.write('S');process.exit(0)},${silentMs})`
  return await new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeout: silentMs + 60_000 }, (err, stdout) => {
      if (err != null) { reject(err); return }
      const out = String(stdout)
      if (out.startsWith('A')) resolve({ kind: 'answer', text: out.slice(1).trim() })
      else if (out.startsWith('R')) resolve({ kind: 'refused', code: out.slice(1) })
      else if (out.startsWith('S')) resolve({ kind: 'silent' })
      else reject(new Error(`tcp probe printed ${JSON.stringify(out)}`))
    })
  })
}

/** Connects from `ns` and returns the server's answer (throws, naming the outcome, when there is none). */
export async function tcpRequest (ns: string, host: string, port: number, silentMs = 15_000): Promise<string> {
  const r = await tcpProbe(ns, host, port, silentMs)
  if (r.kind !== 'answer') throw new Error(`no answer from ${host}:${port} in ${ns}: ${JSON.stringify(r)}`)
  return r.text
}

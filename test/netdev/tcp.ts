/**
 * Tiny TCP server and client run inside a namespace (`ip netns exec NS node -e ...`) for firewall
 * and routing tests: the server answers each connection with "<tag> <peer address>".
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

/** Connects from `ns` and returns the server's answer, or null when the connection fails or times out. */
export async function tcpRequest (ns: string, host: string, port: number, timeoutMs = 1500): Promise<string | null> {
  const script = `const c=require('net').connect({host:'${host}',port:${port}});let d='';c.on('data',x=>d+=x);c.on('end',()=>{process.stdout.write(d);process.exit(0)});c.on('error',()=>process.exit(2));setTimeout(()=>process.exit(3),${timeoutMs})`
  return await new Promise(resolve => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeout: timeoutMs + 5000 }, (err, stdout) => {
      resolve(err == null ? String(stdout).trim() : null)
    })
  })
}

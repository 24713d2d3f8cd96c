/**
 * A CPU profile of a running daemon over a window (bench census, census-hub): its inspector opened
 * with SIGUSR1 (127.0.0.1:9229, so one daemon at a time), then Profiler.start/stop over the
 * DevTools protocol. Unlike `--cpu-prof` it leaves out the daemon's start.
 */
import { writeFileSync } from 'node:fs'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/**
 * CPU profile of a running daemon over `ms`: SIGUSR1 opens its inspector (127.0.0.1:9229, so one
 * daemon at a time), then Profiler.start/stop over the DevTools protocol.
 */
export async function windowProfile (pid: number, ms: number, file: string): Promise<void> {
  process.kill(pid, 'SIGUSR1')
  let url: string | undefined
  for (let i = 0; i < 50 && url == null; i++) {
    await sleep(200)
    url = await fetch('http://127.0.0.1:9229/json/list').then(async r => (await r.json() as Array<{ webSocketDebuggerUrl: string }>)[0]?.webSocketDebuggerUrl).catch(() => undefined)
  }
  if (url == null) throw new Error(`no inspector on pid ${pid}`)
  const ws = new WebSocket(url)
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject })
  let id = 0
  const pending = new Map<number, (v: unknown) => void>()
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number, result?: unknown }
    if (m.id != null) pending.get(m.id)?.(m.result)
  }
  const call = async (method: string, params: Record<string, unknown> = {}): Promise<unknown> => await new Promise(resolve => {
    pending.set(++id, resolve)
    ws.send(JSON.stringify({ id, method, params }))
  })
  await call('Profiler.enable')
  await call('Profiler.start')
  await sleep(ms)
  const r = await call('Profiler.stop') as { profile: unknown }
  writeFileSync(file, JSON.stringify(r.profile))
  ws.close()
}

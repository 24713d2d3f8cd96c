/**
 * A recording TCP relay on loopback: forwards one port to another and keeps every byte of each
 * connection, per direction, so a test can check what went over the wire.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

export interface Recording {
  /** Bytes from the dialer to the listener. */
  up: Buffer[]
  /** Bytes from the listener back to the dialer. */
  down: Buffer[]
}

export interface Recorder {
  port: number
  recordings: Recording[]
  close(): Promise<void>
}

export async function startRecorder (targetPort: number): Promise<Recorder> {
  const recordings: Recording[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const rec: Recording = { up: [], down: [] }
    recordings.push(rec)
    const upstream = connect(targetPort, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => { sockets.delete(s) })
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.on('data', (d: Buffer) => { rec.up.push(Buffer.from(d)) })
    upstream.on('data', (d: Buffer) => { rec.down.push(Buffer.from(d)) })
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve() })
  })
  return {
    port: (server.address() as { port: number }).port,
    recordings,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

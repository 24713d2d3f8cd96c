/**
 * Reads an HTTP request body under two bounds, for the control server and the status page's
 * server alike: its size (`RequestTooLargeError` as soon as the bytes pass `maxBytes`, nothing
 * more is kept) and the time it may take to arrive (`RequestTimeoutError`: a client that sends a
 * few bytes and then nothing must not hold a request, its buffers and a handler slot open; the
 * status page's server cannot use Node's `requestTimeout` because its event feed is a long request).
 */
import type { IncomingMessage } from 'node:http'
import { ControlProtocolError, RequestTimeoutError, RequestTooLargeError } from './errors.js'

export interface BodyLimits {
  maxBytes: number
  /** From the call until the last byte, ms. */
  timeoutMs: number
}

export async function readBoundedBody (req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (err: Error | undefined): void => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
      if (err == null) {
        resolve(Buffer.concat(chunks))
        return
      }
      chunks.length = 0
      // stop taking bytes from this client; the caller answers and closes the connection
      req.pause()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limits.maxBytes) {
        finish(new RequestTooLargeError(`request larger than ${limits.maxBytes} bytes`))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => { finish(undefined) }
    const onError = (err: Error): void => { finish(new ControlProtocolError(`request body failed: ${err.message}`, { cause: err })) }
    const onClose = (): void => { finish(new ControlProtocolError('the client went away before the request body ended')) }
    const timer = setTimeout(() => { finish(new RequestTimeoutError(`request body not received within ${limits.timeoutMs} ms`)) }, limits.timeoutMs)
    req.on('data', onData)
    req.once('end', onEnd)
    req.once('error', onError)
    req.once('close', onClose)
  })
}

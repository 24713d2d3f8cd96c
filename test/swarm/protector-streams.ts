/**
 * Helpers shared by the PSK protector tests: collect what a message stream delivers, and wait
 * (bounded) until a condition holds.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import type { MessageStream } from '@libp2p/interface'

export function collect (stream: MessageStream): { bytes: () => Uint8Array } {
  const list = new Uint8ArrayList()
  stream.addEventListener('message', (evt) => { list.append(evt.data) })
  return { bytes: () => list.subarray() }
}

export async function until (cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

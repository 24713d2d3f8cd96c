/**
 * Helpers shared by the PSK protector tests: collect what a message stream delivers, and wait
 * (bounded) until a condition holds.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import type { MessageStream } from '@libp2p/interface'
import { pause } from '../helpers/wait.js'

export function collect (stream: MessageStream): { bytes: () => Uint8Array } {
  const list = new Uint8ArrayList()
  stream.addEventListener('message', (evt) => { list.append(evt.data) })
  return { bytes: () => list.subarray() }
}

export async function until (cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await pause(5) // polling interval of a bounded wait for a condition
  }
}

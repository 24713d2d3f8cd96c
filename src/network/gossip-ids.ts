/**
 * Gossipsub's fast message id: the duplicate check before the signature check.
 *
 * Why (issue 10, docs/scale.md "Eighth round"): gossipsub verifies the Ed25519 signature of every
 * copy of a message it receives and only then looks the message up in its seen cache, and a node
 * gets a message once from each mesh peer that forwards it. At 100 nodes, node 10 spent 1.02 s of
 * a 20-s gossip phase in gossipsub's signature checks against 0.17 s in messaging's own (once per
 * distinct message). With `fastMsgIdFn` set, gossipsub checks a cache of ids of messages it has
 * already validated first, and a known id is a duplicate without a verification.
 *
 * The id is `from` + `seqno`, the fields StrictSign's message id is made of (that id decides what
 * a duplicate is anyway). An id enters the cache only after its message passed validation, so a
 * forged copy cannot claim an id first; a forged copy of an id already seen is dropped as a
 * duplicate (before: rejected as invalid), which gains its sender nothing it could not get by
 * forwarding the genuine message.
 */
import { toString } from 'uint8arrays/to-string'

interface RpcMessageIds { from?: Uint8Array, seqno?: Uint8Array }

/** `from` and `seqno`, base64; a message missing one fails StrictSign and never enters the cache. */
export function fastMessageId (msg: RpcMessageIds): string {
  return `${msg.from == null ? '' : toString(msg.from, 'base64')}/${msg.seqno == null ? '' : toString(msg.seqno, 'base64')}`
}

/**
 * Noise's ChaCha20-Poly1305 with no buffer per call it can avoid, and one buffer per message sent.
 *
 * Why (issue 13, CPU per GB of the VPN and the bare stream): `@libp2p/noise` encrypts and decrypts
 * every message of 1200 bytes and more with `crypto.createCipheriv`: a cipher object per message,
 * and for every `update` a new, zero-filled ArrayBuffer (memset, and external memory that starts
 * V8's major GCs); the sender then adds a 2-byte length buffer per message, and the receiver
 * joins each message that spans two socket reads into a copy (`dst`) that Node's crypto ignores.
 * Here the same AEAD comes from the addon (native/crypto/aead.c, OpenSSL's code that Node itself
 * runs): the sender encrypts straight from the plaintext pieces into one uninitialised buffer that
 * holds [2-byte length | ciphertext | tag], the receiver decrypts in place into the bytes it read
 * (what upstream already does for its small messages: `dst` is the ciphertext's own memory).
 * The wire is unchanged (test/network/noise-cipher.spec.ts checks it against Node's crypto and
 * against stock Noise peers).
 *
 * Two parts, applied by `withCoalescedWrites` (./coalesced-writes.ts) to each Noise it builds:
 * - `useNativeAead(noise)`: replaces the Noise instance's `crypto.encrypt` / `crypto.decrypt`
 *   (the ICrypto every handshake and transport CipherState calls). Handshake messages keep their
 *   ciphertext (it is hashed after decryption): only a caller that passes `dst` gets in-place work.
 * - `streamlineNoiseStream(conn)`: on the secured connection, `encrypt` sends each message as the
 *   one framed buffer above, and `decrypt` asks for in-place decryption instead of making `dst`.
 * Anything unrecognised is left alone (stock Noise then runs as before).
 * `DMSNET_NOISE_NATIVE=0` turns both off (for before/after benchmarks).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { InvalidArgumentError } from '../errors.js'
import { loadAddon } from '../netdev/native-loader.js'

interface AeadAddon {
  aeadAvailable: () => boolean
  aeadSeal: (key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, src: Uint8Array | Uint8Array[], out: Uint8Array) => void
  /** dst null: plaintext over src's own first bytes. false: the tag did not verify. */
  aeadOpen: (key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, src: Uint8Array | Uint8Array[], dst?: Uint8Array | null) => boolean
}

type Bytes = Uint8Array | Uint8ArrayList

/** What Noise's CipherStates call (`ICrypto`'s AEAD part). */
interface NoiseAead {
  encrypt: (plaintext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array) => Bytes
  decrypt: (ciphertext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array, dst?: Uint8Array) => Bytes
}

const TAG = 16
/** Noise's largest message, tag included (the length prefix is 16 bits). */
const MSG_MAX = 65535
const MSG_MAX_PLAIN = MSG_MAX - TAG

/** Counters for tests and `vpn status`-style diagnostics. */
export const noiseCipherStats = {
  /** Noise instances whose AEAD is the addon's. */
  instances: 0,
  /** Secured connections whose encrypt/decrypt were streamlined. */
  streams: 0,
  /** Messages sealed as one framed buffer. */
  framed: 0,
  /** Messages opened in place. */
  inPlace: 0
}

/** `DMSNET_NOISE_NATIVE`: unset, 1/on/true -> on; 0/off/false -> off; anything else is a typo, refused. */
export function noiseNativeWanted (value: string | undefined): boolean {
  if (value == null || value === '' || ['1', 'on', 'true'].includes(value)) return true
  if (['0', 'off', 'false'].includes(value)) return false
  throw new InvalidArgumentError(`DMSNET_NOISE_NATIVE: "${value}" is not one of 0, off, false, 1, on, true`)
}

let addon: AeadAddon | null | undefined

/**
 * The addon's AEAD, or undefined (turned off, no addon, or no OpenSSL in this process). A typo in
 * DMSNET_NOISE_NATIVE is an InvalidArgumentError here, at the first Noise built.
 */
export function nativeAead (): AeadAddon | undefined {
  if (addon === undefined) {
    const wanted = noiseNativeWanted(process.env.DMSNET_NOISE_NATIVE)
    addon = null
    if (wanted) {
      try {
        const a = loadAddon<Partial<AeadAddon>>()
        if (typeof a.aeadAvailable === 'function' && typeof a.aeadSeal === 'function' && typeof a.aeadOpen === 'function' && a.aeadAvailable()) addon = a as AeadAddon
      } catch {
        // no addon on this machine: Noise keeps Node's crypto
      }
    }
  }
  return addon ?? undefined
}

/** The pieces of a list without copying them (its own array when it exposes one). */
function piecesOf (list: Uint8ArrayList): Uint8Array[] {
  const bufs = (list as unknown as { bufs?: unknown }).bufs
  if (Array.isArray(bufs)) return bufs as Uint8Array[]
  return [...list]
}

/** Passed as `dst` by `streamlineNoiseStream`'s decrypt: "decrypt into the ciphertext itself". */
const IN_PLACE = new Uint8Array(0)

/**
 * The last buffer `seal` made: [length | ciphertext | tag]. The streamlined encrypt takes it whole
 * when the ciphertext it got back is this buffer's tail (synchronously, in the same call).
 */
let lastFramed: Uint8Array | undefined

function seal (a: AeadAddon, plaintext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Uint8Array {
  const n = plaintext.byteLength
  // uninitialised: every byte after the prefix is written by the cipher
  const framed = Buffer.allocUnsafe(2 + n + TAG)
  a.aeadSeal(k, nonce, ad, plaintext instanceof Uint8Array ? plaintext : piecesOf(plaintext), framed.subarray(2))
  if (n + TAG <= MSG_MAX) {
    framed[0] = (n + TAG) >> 8
    framed[1] = (n + TAG) & 0xff
    lastFramed = framed
  }
  return framed.subarray(2)
}

function open (a: AeadAddon, ciphertext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array, dst: Uint8Array | undefined): Bytes {
  const n = ciphertext.byteLength - TAG
  if (n < 0) throw new Error('Invalid chacha20poly1305 decryption')
  const src = ciphertext instanceof Uint8Array ? ciphertext : piecesOf(ciphertext)
  if (dst === IN_PLACE) {
    if (!a.aeadOpen(k, nonce, ad, src, null)) throw new Error('Invalid chacha20poly1305 decryption')
    noiseCipherStats.inPlace++
    return ciphertext instanceof Uint8Array ? ciphertext.subarray(0, n) : ciphertext.sublist(0, n)
  }
  // upstream's dst (the ciphertext's own memory, or a copy of it) or none (a handshake message,
  // whose ciphertext is hashed after this): never write over the ciphertext here
  const out = dst != null && dst.byteLength >= n ? dst.subarray(0, n) : Buffer.allocUnsafe(n)
  if (!a.aeadOpen(k, nonce, ad, src, out)) throw new Error('Invalid chacha20poly1305 decryption')
  return out
}

/**
 * Makes a Noise instance (from `@libp2p/noise`'s factory) use the addon's AEAD; false, changing
 * nothing, when the addon is unavailable or the instance does not look like Noise.
 */
export function useNativeAead (noise: unknown): boolean {
  const a = nativeAead()
  const crypto = (noise as { crypto?: Partial<NoiseAead> } | null)?.crypto
  if (a == null || crypto == null || typeof crypto.encrypt !== 'function' || typeof crypto.decrypt !== 'function') return false
  crypto.encrypt = (plaintext, nonce, ad, k) => seal(a, plaintext, nonce, ad, k)
  crypto.decrypt = (ciphertext, nonce, ad, k, dst) => open(a, ciphertext, nonce, ad, k, dst)
  noiseCipherStats.instances++
  return true
}

/** The parts of `@libp2p/noise`'s EncryptedMessageStream this file uses. */
interface NoiseStream {
  handshake: {
    encrypt: (plaintext: Bytes) => Bytes
    decrypt: (ciphertext: Bytes, dst?: Uint8Array) => Bytes
  }
  metrics?: { encryptedPackets: { increment: () => void }, decryptedPackets: { increment: () => void }, decryptErrors: { increment: () => void } }
  encrypt: (chunk: Bytes) => Uint8ArrayList
  decrypt: (chunk: Bytes) => Uint8ArrayList
}

function isNoiseStream (conn: unknown): conn is NoiseStream {
  const c = conn as Partial<NoiseStream> | null
  return c != null && typeof c.encrypt === 'function' && typeof c.decrypt === 'function' &&
    typeof c.handshake?.encrypt === 'function' && typeof c.handshake?.decrypt === 'function'
}

function lengthPrefix (n: number): Uint8Array {
  const b = Buffer.allocUnsafe(2)
  b[0] = n >> 8
  b[1] = n & 0xff
  return b
}

/**
 * On a connection Noise secured with `useNativeAead`'s crypto: one framed buffer per message sent,
 * received messages decrypted in place. False, changing nothing, for anything else.
 */
export function streamlineNoiseStream (conn: unknown): boolean {
  if (nativeAead() == null || !isNoiseStream(conn)) return false
  const s = conn
  s.encrypt = (chunk) => {
    const output = new Uint8ArrayList()
    for (let i = 0; i < chunk.byteLength; i += MSG_MAX_PLAIN) {
      const end = Math.min(i + MSG_MAX_PLAIN, chunk.byteLength)
      lastFramed = undefined
      const data = s.handshake.encrypt(chunk instanceof Uint8Array ? chunk.subarray(i, end) : chunk.sublist(i, end))
      s.metrics?.encryptedPackets.increment()
      const f = lastFramed as Uint8Array | undefined
      if (f != null && data instanceof Uint8Array && data.buffer === f.buffer && data.byteOffset === f.byteOffset + 2 && data.byteLength === f.byteLength - 2) {
        noiseCipherStats.framed++
        output.append(f)
      } else {
        output.append(lengthPrefix(data.byteLength))
        output.append(data)
      }
    }
    lastFramed = undefined
    return output
  }
  s.decrypt = (chunk) => {
    const output = new Uint8ArrayList()
    for (let i = 0; i < chunk.byteLength; i += MSG_MAX) {
      const end = Math.min(i + MSG_MAX, chunk.byteLength)
      if (end - TAG < i) throw new Error('Invalid chunk')
      try {
        output.append(s.handshake.decrypt(chunk instanceof Uint8Array ? chunk.subarray(i, end) : chunk.sublist(i, end), IN_PLACE))
        s.metrics?.decryptedPackets.increment()
      } catch (e) {
        s.metrics?.decryptErrors.increment()
        throw e
      }
    }
    return output
  }
  noiseCipherStats.streams++
  return true
}

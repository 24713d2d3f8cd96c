/**
 * Benchmark: the PSK protector's XSalsa20 ciphers in one process, same run: MB/s of in-place XORs
 * for each chunk size (64 KiB is what the protector sees on a busy stream; 16 KiB and 1460 B show
 * the per-call cost of the native boundary), on every cipher this machine has (the addon's
 * AVX-512 code, libsodium, pure JavaScript), the ciphers alternating round by round so load
 * changes hit them alike. Before timing, each cipher's output is checked against libsodium's.
 *
 * Usage: npm run bench -- xsalsa20 [--rounds 5] [--mb 256]  (--mb: per cipher, size and round;
 * the JS cipher gets an eighth of it)
 * `avx512_ahead_*`: the same XORs with the keystream already computed by the addon's generator
 * thread (128 KiB ready before every 128 KiB: the generator refills a ring of 256 KiB once it is
 * below half; a sixteenth of --mb): what the event loop pays when the generator keeps up. The other AVX-512 figures compute the keystream inline (ahead off).
 * A cipher whose output differs fails the benchmark (exit 1 with the reason).
 * Progress on stderr; the last stdout line is one JSON object.
 */
import { randomBytes } from 'node:crypto'
import { availableXSalsa20, createXSalsa20, type KeystreamXor, type XSalsa20Kind } from '../src/swarm/xsalsa20.js'
import { loadSimd, SimdXSalsa20Stream } from '../src/swarm/xsalsa20-simd.js'
import { numArg, progress, writeJsonLine } from './_lib/process.js'
import { minMedianMax, round } from './_lib/stats.js'

const SIZES = [65536, 16384, 1460]
const log = progress('xsalsa20')

/** MB/s of `bytes` XORed in place in `size` pieces on a fresh stream of `kind`. */
function measure (kind: XSalsa20Kind, size: number, bytes: number, key: Uint8Array, nonce: Uint8Array): number {
  // AVX-512 with the keystream computed inline, as before the generator thread
  const s: KeystreamXor = kind === 'avx512' ? new SimdXSalsa20Stream(loadSimd()!, key, nonce, 0, 0) : createXSalsa20(key, nonce, kind)
  const buf = new Uint8Array(size)
  const calls = Math.max(1, Math.floor(bytes / size))
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) s.update(buf, buf)
  const sec = Number(process.hrtime.bigint() - t0) / 1e9
  s.dispose()
  return calls * size / 1e6 / sec
}

const HALF_RING = 128 * 1024

/** Event-loop MB/s of in-place XORs in `size` pieces, each 128 KiB started with 128 KiB ready. */
async function measureAhead (size: number, bytes: number, key: Uint8Array, nonce: Uint8Array): Promise<number> {
  const s = new SimdXSalsa20Stream(loadSimd()!, key, nonce, 0, 2)
  const buf = new Uint8Array(size)
  let ns = 0n
  let done = 0
  let fromRing = 0
  try {
    while (done < bytes) {
      const until = Date.now() + 5000
      while (s.aheadStats().readyAhead < HALF_RING / 1024) {
        if (Date.now() > until) throw new Error('the keystream generator did not fill its ring within 5 s')
        await new Promise(resolve => setTimeout(resolve, 1)) // polling interval while the generator fills
      }
      const before = s.aheadStats().ringBatches
      const t0 = process.hrtime.bigint()
      for (let n = 0; n + size <= HALF_RING; n += size) s.update(buf, buf)
      ns += process.hrtime.bigint() - t0
      fromRing += s.aheadStats().ringBatches - before
      done += Math.floor(HALF_RING / size) * size
    }
  } finally {
    s.dispose()
  }
  // a figure for the ring must come from the ring (a stall would be inline work, measured above)
  if (fromRing < (done / 1024) * 0.9) throw new Error(`only ${fromRing} of ${Math.floor(done / 1024)} batches came from the ring`)
  return done / 1e6 / (Number(ns) / 1e9)
}

async function main (): Promise<void> {
  const rounds = numArg('rounds', 5)
  const mb = numArg('mb', 256)
  const kinds = availableXSalsa20()
  const key = new Uint8Array(randomBytes(32))
  const nonce = new Uint8Array(randomBytes(24))
  // same bytes from every cipher, over chunkings that cross blocks and batches
  const data = new Uint8Array(randomBytes(200_000))
  const expected = createXSalsa20(key, nonce, kinds.includes('sodium') ? 'sodium' : 'js').update(data)
  for (const kind of kinds) {
    const s = createXSalsa20(key, nonce, kind)
    const out = new Uint8Array(data)
    for (let off = 0; off < out.byteLength; off += 1537) s.update(out.subarray(off, off + 1537), out.subarray(off, off + 1537))
    if (Buffer.compare(out, expected) !== 0) throw new Error(`${kind}: keystream differs from the reference`)
  }
  const mbps: Record<string, number[]> = {}
  for (let r = 0; r < rounds; r++) {
    for (const size of SIZES) {
      for (const kind of kinds) {
        const bytes = (kind === 'js' ? mb / 8 : mb) * 1024 * 1024
        const v = measure(kind, size, bytes, key, nonce)
        ;(mbps[`${kind}_${size}`] ??= []).push(v)
      }
      if (kinds.includes('avx512')) (mbps[`avx512_ahead_${size}`] ??= []).push(await measureAhead(size, mb / 16 * 1024 * 1024, key, nonce))
      const shown = [...kinds, ...(kinds.includes('avx512') ? ['avx512_ahead'] : [])]
      log(`round ${r + 1}/${rounds}, ${size} B: ${shown.map(k => `${k} ${round(mbps[`${k}_${size}`]!.at(-1)!)}`).join(', ')} MB/s`)
    }
  }
  const result: Record<string, unknown> = { bench: 'xsalsa20', rounds, mb, ciphers: kinds }
  for (const [k, xs] of Object.entries(mbps)) {
    const m = minMedianMax(xs)
    result[`${k}_MBps`] = { min: round(m.min), median: round(m.median), max: round(m.max) }
  }
  if (kinds.includes('avx512') && kinds.includes('sodium')) {
    for (const size of SIZES) result[`avx512_vs_sodium_${size}`] = round(minMedianMax(mbps[`avx512_${size}`]!).median / minMedianMax(mbps[`sodium_${size}`]!).median, 2)
  }
  writeJsonLine(result)
}

main().catch((err) => {
  process.stderr.write(`[xsalsa20] FAILED: ${(err as Error).message}\n`)
  process.exit(1)
})

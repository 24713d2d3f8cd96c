/*
 * What native/crypto/xsalsa20.c (the stream state, the Salsa20 core) and
 * native/crypto/keystream_ring.c (keystream computed ahead on a generator thread) share.
 */
#ifndef DMSNET_XSALSA20_H
#define DMSNET_XSALSA20_H

#include <stddef.h>
#include <stdint.h>

#define XS_BATCH 1024 /* 16 Salsa20 blocks of 64 bytes: one AVX-512 batch */

typedef struct xs_ring xs_ring;

/*
 * out[0..1024) = in ^ keystream blocks counter..counter+15 (in NULL: the keystream itself).
 * Needs AVX-512F (callers check xs_have_avx512 first).
 */
void xs_salsa20_x16(const uint32_t key[8], const uint32_t nonce[2], uint64_t counter, const uint8_t *in, uint8_t *out);

/* out[0..1024) = in ^ ks (in may be out). */
void xs_xor_batch(uint8_t *out, const uint8_t *in, const uint8_t *ks);

/*
 * A ring of keystream batches that a generator thread fills ahead of the reader, for the stream
 * with subkey `key`, `nonce` whose batch 0 starts at block `base`. NULL when the process already
 * holds XS_RING_MAX rings (or out of memory): the stream then computes its keystream inline.
 */
xs_ring *xs_ring_new(const uint32_t key[8], const uint32_t nonce[2], uint64_t base);

/*
 * Batch `b` (the reader's next, b counting up by one per call): out = in ^ its keystream from the
 * ring when the generator has it ready (returns 1; in NULL: the keystream itself), else returns
 * 0 and the caller computes b..claim_to-1 inline (the generator skips them: keystream is never
 * used twice). The slot stays the reader's until xs_ring_done.
 */
int xs_ring_take(xs_ring *r, uint64_t b, uint8_t *out, const uint8_t *in, uint64_t claim_to);

/* The reader is done with every batch before `next` (this call took `from_ring` from the ring and
 * `computed` inline): their slots go back to the generator, woken when the ring is below half. */
void xs_ring_done(xs_ring *r, uint64_t next, uint64_t from_ring, uint64_t computed);

/* Stops the generator on this ring, wipes and frees it (at once, or when the generator lets go). */
void xs_ring_release(xs_ring *r);

/* Rings alive in this process (tests: a disposed stream's ring is gone). */
int xs_rings_live(void);

/* Process totals: batches from rings, computed inline, misses on a batch the generator was computing. */
void xs_ring_totals(uint64_t out[3]);

/* Batches the generator has ready ahead of the reader (tests). */
uint64_t xs_ring_ready_ahead(xs_ring *r, uint64_t b);

#endif

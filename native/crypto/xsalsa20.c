/*
 * XSalsa20 keystream XOR for the PSK protector (src/swarm/xsalsa20-simd.ts): HSalsa20 once per
 * stream, then Salsa20/20 on 16 blocks at a time in AVX-512 registers (one zmm per state word,
 * lane j = block counter + j). libsodium's best Salsa20 is AVX2 (8 blocks); this is the cipher's
 * share of a PSK connection's CPU, so its speed decides PSK vs plain throughput.
 *
 * The stream state keeps the unused keystream of the last 16-block batch, so chunks of any size
 * continue one keystream from block 0 (the wire format). Only built for x86-64 with AVX-512F at
 * run time: elsewhere `available` is false and the protector stays on libsodium.
 *
 * A busy stream (ahead mode 1: from 1 MiB on, in calls of >= 16 KiB; mode 2: at once) takes its
 * keystream from a ring filled ahead on a generator thread (native/crypto/keystream_ring.c).
 *
 * N-API: xsalsa20Available() -> bool; xsalsa20Create(key32, nonce24[, counter[, ahead]]) -> external;
 * xsalsa20Xor(state, out, in) (out may be in); xsalsa20Dispose(state) wipes the key material;
 * xsalsa20Stats(state) -> { ring, ringBatches, inlineBatches, readyAhead }; xsalsa20RingsLive();
 * xsalsa20AheadTotals() -> the process's { ringBatches, inlineBatches, raced }.
 * A state is an external type-tagged as ours: any other value (a plain object, another addon's
 * external) is a TypeError, never read as key material. xsalsa20ForeignExternal() returns an
 * untagged external, only so the tests can show that.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "xsalsa20.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define XS_X86 1
#include <immintrin.h>
#endif

#define BATCH XS_BATCH
/* ahead mode 1: a stream gets a ring once it has used this much keystream, in a call this large */
#define AHEAD_AFTER (1024 * 1024)
#define AHEAD_CALL (16 * 1024)

typedef struct {
  uint32_t key[8]; /* HSalsa20 subkey */
  uint32_t nonce[2]; /* nonce bytes 16..24 */
  uint64_t counter; /* next block to generate */
  uint32_t pos; /* next unused byte of buf (BATCH: none) */
  int disposed;
  int ahead; /* 0: never a ring; 1: once busy; 2: from the start */
  uint64_t used; /* keystream bytes used so far */
  xs_ring *ring; /* keystream computed ahead, or NULL */
  uint64_t ring_base; /* counter when the ring started (its batch 0) */
  uint64_t ring_batches, inline_batches; /* whole batches from the ring / computed here while it ran */
  uint8_t buf[BATCH] __attribute__((aligned(64)));
} xs_state;

static inline uint32_t load32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#define ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))

static void hsalsa20(uint32_t out[8], const uint8_t key[32], const uint8_t nonce16[16]) {
  uint32_t x[16];
  x[0] = 0x61707865; x[5] = 0x3320646e; x[10] = 0x79622d32; x[15] = 0x6b206574;
  for (int i = 0; i < 4; i++) {
    x[1 + i] = load32(key + 4 * i);
    x[11 + i] = load32(key + 16 + 4 * i);
    x[6 + i] = load32(nonce16 + 4 * i);
  }
  for (int r = 0; r < 20; r += 2) {
    x[4] ^= ROTL(x[0] + x[12], 7); x[8] ^= ROTL(x[4] + x[0], 9); x[12] ^= ROTL(x[8] + x[4], 13); x[0] ^= ROTL(x[12] + x[8], 18);
    x[9] ^= ROTL(x[5] + x[1], 7); x[13] ^= ROTL(x[9] + x[5], 9); x[1] ^= ROTL(x[13] + x[9], 13); x[5] ^= ROTL(x[1] + x[13], 18);
    x[14] ^= ROTL(x[10] + x[6], 7); x[2] ^= ROTL(x[14] + x[10], 9); x[6] ^= ROTL(x[2] + x[14], 13); x[10] ^= ROTL(x[6] + x[2], 18);
    x[3] ^= ROTL(x[15] + x[11], 7); x[7] ^= ROTL(x[3] + x[15], 9); x[11] ^= ROTL(x[7] + x[3], 13); x[15] ^= ROTL(x[11] + x[7], 18);
    x[1] ^= ROTL(x[0] + x[3], 7); x[2] ^= ROTL(x[1] + x[0], 9); x[3] ^= ROTL(x[2] + x[1], 13); x[0] ^= ROTL(x[3] + x[2], 18);
    x[6] ^= ROTL(x[5] + x[4], 7); x[7] ^= ROTL(x[6] + x[5], 9); x[4] ^= ROTL(x[7] + x[6], 13); x[5] ^= ROTL(x[4] + x[7], 18);
    x[11] ^= ROTL(x[10] + x[9], 7); x[8] ^= ROTL(x[11] + x[10], 9); x[9] ^= ROTL(x[8] + x[11], 13); x[10] ^= ROTL(x[9] + x[8], 18);
    x[12] ^= ROTL(x[15] + x[14], 7); x[13] ^= ROTL(x[12] + x[15], 9); x[14] ^= ROTL(x[13] + x[12], 13); x[15] ^= ROTL(x[14] + x[13], 18);
  }
  out[0] = x[0]; out[1] = x[5]; out[2] = x[10]; out[3] = x[15];
  out[4] = x[6]; out[5] = x[7]; out[6] = x[8]; out[7] = x[9];
}

#ifdef XS_X86
#define AVX512 __attribute__((target("avx512f")))

/* a ^= rotl(b + c, n) on 16 lanes */
#define QR(a, b, c, n) a = _mm512_xor_si512(a, _mm512_rol_epi32(_mm512_add_epi32(b, c), n))

/* The 4x4 transpose of 128-bit lanes: out[k] = lane k of u0..u3; then XOR into 4 blocks. */
#define XOR4(u0, u1, u2, u3, j) do { \
  __m512i a_ = _mm512_shuffle_i32x4(u0, u1, 0x44), b_ = _mm512_shuffle_i32x4(u0, u1, 0xEE); \
  __m512i c_ = _mm512_shuffle_i32x4(u2, u3, 0x44), d_ = _mm512_shuffle_i32x4(u2, u3, 0xEE); \
  __m512i o_[4] = { _mm512_shuffle_i32x4(a_, c_, 0x88), _mm512_shuffle_i32x4(a_, c_, 0xDD), \
                    _mm512_shuffle_i32x4(b_, d_, 0x88), _mm512_shuffle_i32x4(b_, d_, 0xDD) }; \
  for (int k_ = 0; k_ < 4; k_++) { \
    size_t off_ = (size_t)64 * (4 * k_ + (j)); \
    __m512i m_ = in != NULL ? _mm512_loadu_si512((const void *)(in + off_)) : _mm512_setzero_si512(); \
    _mm512_storeu_si512((void *)(out + off_), _mm512_xor_si512(m_, o_[k_])); \
  } \
} while (0)

AVX512 void xs_xor_batch(uint8_t *out, const uint8_t *in, const uint8_t *ks) {
  for (size_t i = 0; i < BATCH; i += 64) {
    __m512i v = _mm512_xor_si512(_mm512_loadu_si512((const void *)(in + i)), _mm512_load_si512((const void *)(ks + i)));
    _mm512_storeu_si512((void *)(out + i), v);
  }
}

AVX512 void xs_salsa20_x16(const uint32_t key[8], const uint32_t nonce[2], uint64_t counter, const uint8_t *in, uint8_t *out) {
  const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  __m512i lo0 = _mm512_set1_epi32((int)(uint32_t)counter);
  __m512i lo = _mm512_add_epi32(lo0, lanes);
  __mmask16 carry = _mm512_cmplt_epu32_mask(lo, lo0);
  __m512i hi = _mm512_mask_add_epi32(_mm512_set1_epi32((int)(uint32_t)(counter >> 32)), carry,
                                     _mm512_set1_epi32((int)(uint32_t)(counter >> 32)), _mm512_set1_epi32(1));
  __m512i j[16];
  j[0] = _mm512_set1_epi32(0x61707865); j[5] = _mm512_set1_epi32(0x3320646e);
  j[10] = _mm512_set1_epi32(0x79622d32); j[15] = _mm512_set1_epi32(0x6b206574);
  for (int i = 0; i < 4; i++) {
    j[1 + i] = _mm512_set1_epi32((int)key[i]);
    j[11 + i] = _mm512_set1_epi32((int)key[4 + i]);
  }
  j[6] = _mm512_set1_epi32((int)nonce[0]); j[7] = _mm512_set1_epi32((int)nonce[1]);
  j[8] = lo; j[9] = hi;
  __m512i x0 = j[0], x1 = j[1], x2 = j[2], x3 = j[3], x4 = j[4], x5 = j[5], x6 = j[6], x7 = j[7];
  __m512i x8 = j[8], x9 = j[9], x10 = j[10], x11 = j[11], x12 = j[12], x13 = j[13], x14 = j[14], x15 = j[15];
  for (int r = 0; r < 20; r += 2) {
    QR(x4, x0, x12, 7); QR(x8, x4, x0, 9); QR(x12, x8, x4, 13); QR(x0, x12, x8, 18);
    QR(x9, x5, x1, 7); QR(x13, x9, x5, 9); QR(x1, x13, x9, 13); QR(x5, x1, x13, 18);
    QR(x14, x10, x6, 7); QR(x2, x14, x10, 9); QR(x6, x2, x14, 13); QR(x10, x6, x2, 18);
    QR(x3, x15, x11, 7); QR(x7, x3, x15, 9); QR(x11, x7, x3, 13); QR(x15, x11, x7, 18);
    QR(x1, x0, x3, 7); QR(x2, x1, x0, 9); QR(x3, x2, x1, 13); QR(x0, x3, x2, 18);
    QR(x6, x5, x4, 7); QR(x7, x6, x5, 9); QR(x4, x7, x6, 13); QR(x5, x4, x7, 18);
    QR(x11, x10, x9, 7); QR(x8, x11, x10, 9); QR(x9, x8, x11, 13); QR(x10, x9, x8, 18);
    QR(x12, x15, x14, 7); QR(x13, x12, x15, 9); QR(x14, x13, x12, 13); QR(x15, x14, x13, 18);
  }
  x0 = _mm512_add_epi32(x0, j[0]); x1 = _mm512_add_epi32(x1, j[1]); x2 = _mm512_add_epi32(x2, j[2]);
  x3 = _mm512_add_epi32(x3, j[3]); x4 = _mm512_add_epi32(x4, j[4]); x5 = _mm512_add_epi32(x5, j[5]);
  x6 = _mm512_add_epi32(x6, j[6]); x7 = _mm512_add_epi32(x7, j[7]); x8 = _mm512_add_epi32(x8, j[8]);
  x9 = _mm512_add_epi32(x9, j[9]); x10 = _mm512_add_epi32(x10, j[10]); x11 = _mm512_add_epi32(x11, j[11]);
  x12 = _mm512_add_epi32(x12, j[12]); x13 = _mm512_add_epi32(x13, j[13]); x14 = _mm512_add_epi32(x14, j[14]);
  x15 = _mm512_add_epi32(x15, j[15]);

  /* words 4g..4g+3 of block 4k+jj sit in lane k of u[g][jj] after two unpack rounds */
  __m512i u[4][4];
#define GROUP(g, ra, rb, rc, rd) do { \
  __m512i t0 = _mm512_unpacklo_epi32(ra, rb), t1 = _mm512_unpackhi_epi32(ra, rb); \
  __m512i t2 = _mm512_unpacklo_epi32(rc, rd), t3 = _mm512_unpackhi_epi32(rc, rd); \
  u[g][0] = _mm512_unpacklo_epi64(t0, t2); u[g][1] = _mm512_unpackhi_epi64(t0, t2); \
  u[g][2] = _mm512_unpacklo_epi64(t1, t3); u[g][3] = _mm512_unpackhi_epi64(t1, t3); \
} while (0)
  GROUP(0, x0, x1, x2, x3);
  GROUP(1, x4, x5, x6, x7);
  GROUP(2, x8, x9, x10, x11);
  GROUP(3, x12, x13, x14, x15);
#undef GROUP
  for (int jj = 0; jj < 4; jj++) XOR4(u[0][jj], u[1][jj], u[2][jj], u[3][jj], jj);
}

static int have_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
#else
static int have_avx512(void) { return 0; }
void xs_salsa20_x16(const uint32_t key[8], const uint32_t nonce[2], uint64_t counter, const uint8_t *in, uint8_t *out) { abort(); }
void xs_xor_batch(uint8_t *out, const uint8_t *in, const uint8_t *ks) { abort(); }
#endif

/*
 * The next whole batch: from the ring when it has it ready, else computed here. in NULL: the
 * keystream. `left`: batches this call still needs, this one included. After one miss (`*own`)
 * the rest of the call's batches are the caller's: claimed at once, computed without asking.
 */
static void next_batch(xs_state *s, const uint8_t *in, uint8_t *out, int *own, uint64_t left) {
  if (s->ring != NULL) {
    if (!*own) {
      uint64_t b = (s->counter - s->ring_base) / 16;
      if (xs_ring_take(s->ring, b, out, in, b + left)) {
        s->ring_batches++;
        s->counter += 16;
        return;
      }
      *own = 1;
    }
    s->inline_batches++;
  }
  xs_salsa20_x16(s->key, s->nonce, s->counter, in, out);
  s->counter += 16;
}

static void xs_xor(xs_state *s, uint8_t *out, const uint8_t *in, size_t n) {
  while (s->pos < BATCH && n > 0) {
    size_t take = BATCH - s->pos < n ? BATCH - s->pos : n;
    for (size_t i = 0; i < take; i++) out[i] = in[i] ^ s->buf[s->pos + i];
    s->pos += (uint32_t)take; out += take; in += take; n -= take;
  }
  if (s->ring == NULL && s->ahead != 0 && (s->ahead == 2 || (s->used >= AHEAD_AFTER && n >= AHEAD_CALL))) {
    s->ring = xs_ring_new(s->key, s->nonce, s->counter);
    s->ring_base = s->counter;
    /* no ring (the process holds its maximum): stay inline, and stop asking */
    if (s->ring == NULL) s->ahead = 0;
  }
  s->used += n;
  uint64_t ring0 = s->ring_batches, inline0 = s->inline_batches;
  int own = 0;
  while (n >= BATCH) {
    next_batch(s, in, out, &own, n / BATCH + (n % BATCH != 0));
    out += BATCH; in += BATCH; n -= BATCH;
  }
  if (n > 0) {
    next_batch(s, NULL, s->buf, &own, 1);
    for (size_t i = 0; i < n; i++) out[i] = in[i] ^ s->buf[i];
    s->pos = (uint32_t)n;
  }
  if (s->ring != NULL) xs_ring_done(s->ring, (s->counter - s->ring_base) / 16, s->ring_batches - ring0, s->inline_batches - inline0);
}

/* ---- N-API ---- */

static void wipe(xs_state *s) {
  if (s->ring != NULL) xs_ring_release(s->ring);
  s->ring = NULL;
  volatile uint8_t *p = (volatile uint8_t *)s;
  for (size_t i = 0; i < sizeof *s; i++) p[i] = 0;
}

static void finalize(napi_env env, void *data, void *hint) {
  wipe((xs_state *)data);
  free(data);
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* Marks the externals this file creates (random 128 bits: napi_type_tag's uniqueness is ours to pick). */
static const napi_type_tag XS_STATE_TAG = { 0x6d73d1b2a4c94f0eULL, 0x9b8f3c1e57a2d604ULL };

static int bytes_of(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t length;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array) return 0;
  *data = (uint8_t *)p;
  *len = length;
  return 1;
}

static napi_value xs_available(napi_env env, napi_callback_info info) {
  napi_value r;
  napi_get_boolean(env, have_avx512() != 0, &r);
  return r;
}

static napi_value xs_create(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!have_avx512()) return throw_range(env, "xsalsa20: no AVX-512F on this CPU");
  uint8_t *key, *nonce;
  size_t klen, nlen;
  if (argc < 2 || !bytes_of(env, argv[0], &key, &klen) || klen != 32) return throw_range(env, "XSalsa20 key must be 32 bytes");
  if (!bytes_of(env, argv[1], &nonce, &nlen) || nlen != 24) return throw_range(env, "XSalsa20 nonce must be 24 bytes");
  double counter = 0;
  if (argc >= 3) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t == napi_number) napi_get_value_double(env, argv[2], &counter);
    if (counter < 0 || counter > 9007199254740991.0 || counter != (double)(uint64_t)counter) return throw_range(env, "XSalsa20 counter must be a safe integer");
  }
  int32_t ahead = 0;
  if (argc >= 4) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined && (t != napi_number || napi_get_value_int32(env, argv[3], &ahead) != napi_ok || ahead < 0 || ahead > 2)) return throw_range(env, "XSalsa20 ahead must be 0, 1 or 2");
  }
  xs_state *s = aligned_alloc(64, sizeof(xs_state));
  if (s == NULL) return throw_range(env, "xsalsa20: out of memory");
  memset(s, 0, sizeof *s);
  hsalsa20(s->key, key, nonce);
  s->nonce[0] = load32(nonce + 16);
  s->nonce[1] = load32(nonce + 20);
  s->counter = (uint64_t)counter;
  s->pos = BATCH;
  s->ahead = ahead;
  if (ahead == 2) {
    /* from the start: the generator fills the ring before the first byte is asked for */
    s->ring = xs_ring_new(s->key, s->nonce, s->counter);
    s->ring_base = s->counter;
    if (s->ring == NULL) s->ahead = 0;
  }
  napi_value ext;
  if (napi_create_external(env, s, finalize, NULL, &ext) != napi_ok) { wipe(s); free(s); return NULL; }
  if (napi_type_tag_object(env, ext, &XS_STATE_TAG) != napi_ok) return NULL; /* the external's finalizer frees s */
  return ext;
}

static xs_state *state_of(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  bool ours = false;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_check_object_type_tag(env, v, &XS_STATE_TAG, &ours) != napi_ok || !ours) return NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (xs_state *)p;
}

static void free_foreign(napi_env env, void *data, void *hint) {
  free(data);
}

static napi_value xs_foreign(napi_env env, napi_callback_info info) {
  /* 4 KiB of 0x41: larger than a state, so a missed check would read it rather than crash */
  void *p = malloc(4096);
  if (p == NULL) return throw_range(env, "xsalsa20: out of memory");
  memset(p, 0x41, 4096);
  napi_value ext;
  if (napi_create_external(env, p, free_foreign, NULL, &ext) != napi_ok) { free(p); return NULL; }
  return ext;
}

static napi_value xs_xor_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  xs_state *s = argc == 3 ? state_of(env, argv[0]) : NULL;
  if (s == NULL) return throw_type(env, "xsalsa20Xor(state, out, in): not a stream state");
  if (s->disposed) return throw_range(env, "XSalsa20 stream used after dispose");
  uint8_t *out, *in;
  size_t olen, ilen;
  if (!bytes_of(env, argv[1], &out, &olen) || !bytes_of(env, argv[2], &in, &ilen)) return throw_range(env, "xsalsa20Xor: out and in must be Uint8Arrays");
  if (olen != ilen) return throw_range(env, "XSalsa20 output must be as long as the input");
  /* exactly equal or disjoint: a partial overlap would read bytes already written */
  if (out != in && out < in + ilen && in < out + olen) return throw_range(env, "xsalsa20Xor: out and in overlap");
  if (ilen > 0) xs_xor(s, out, in, ilen);
  return NULL;
}

/* The state of a call taking only a state; NULL with a TypeError thrown when it is not one. */
static xs_state *only_state(napi_env env, napi_callback_info info, const char *refusal) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  xs_state *s = argc == 1 ? state_of(env, argv[0]) : NULL;
  if (s == NULL) throw_type(env, refusal);
  return s;
}

static napi_value xs_dispose(napi_env env, napi_callback_info info) {
  xs_state *s = only_state(env, info, "xsalsa20Dispose(state): not a stream state");
  if (s == NULL) return NULL;
  wipe(s);
  s->disposed = 1;
  return NULL;
}

static napi_value set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, name, n);
  return obj;
}

static napi_value xs_stats(napi_env env, napi_callback_info info) {
  xs_state *s = only_state(env, info, "xsalsa20Stats(state): not a stream state");
  if (s == NULL) return NULL;
  napi_value obj, ring;
  napi_create_object(env, &obj);
  napi_get_boolean(env, s->ring != NULL, &ring);
  napi_set_named_property(env, obj, "ring", ring);
  set_num(env, obj, "ringBatches", (double)s->ring_batches);
  set_num(env, obj, "inlineBatches", (double)s->inline_batches);
  return set_num(env, obj, "readyAhead", s->ring != NULL ? (double)xs_ring_ready_ahead(s->ring, (s->counter - s->ring_base) / 16) : 0);
}

static napi_value xs_rings(napi_env env, napi_callback_info info) {
  napi_value n;
  napi_create_int32(env, xs_rings_live(), &n);
  return n;
}

static napi_value xs_totals(napi_env env, napi_callback_info info) {
  uint64_t t[3];
  xs_ring_totals(t);
  napi_value obj;
  napi_create_object(env, &obj);
  set_num(env, obj, "ringBatches", (double)t[0]);
  set_num(env, obj, "inlineBatches", (double)t[1]);
  return set_num(env, obj, "raced", (double)t[2]);
}

napi_status xsalsa20_register(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
    { "xsalsa20Available", NULL, xs_available, NULL, NULL, NULL, napi_default_method, NULL },
    { "xsalsa20Create", NULL, xs_create, NULL, NULL, NULL, napi_default_method, NULL },
    { "xsalsa20Xor", NULL, xs_xor_js, NULL, NULL, NULL, napi_default_method, NULL },
    { "xsalsa20Dispose", NULL, xs_dispose, NULL, NULL, NULL, napi_default_method, NULL },
    { "xsalsa20ForeignExternal", NULL, xs_foreign, NULL, NULL, NULL, napi_default_method, NULL },
    { "xsalsa20Stats", NULL, xs_stats, NULL, NULL, NULL, napi_default_method, NULL },
    { "xsalsa20RingsLive", NULL, xs_rings, NULL, NULL, NULL, napi_default_method, NULL },
    { "xsalsa20AheadTotals", NULL, xs_totals, NULL, NULL, NULL, napi_default_method, NULL },
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}

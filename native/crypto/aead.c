/*
 * ChaCha20-Poly1305 (RFC 8439) for Noise's transport messages without a buffer per call
 * (src/network/noise-cipher.ts). Node's `crypto.createCipheriv` costs, per 64 KiB Noise message,
 * a cipher object, a zero-filled output ArrayBuffer per `update` (memset + external memory that
 * drives V8's major GCs) and, on the send side, a `Buffer.concat` of output and tag. Here the
 * caller passes the output: the sender a buffer it allocated uninitialised, the receiver the
 * ciphertext itself (decrypted in place, as upstream Noise already does for small messages), and
 * the input may be a list of pieces (a message spanning two socket reads) so nothing is joined.
 *
 * The cipher is OpenSSL's, the one Node itself uses: its EVP functions are looked up in the
 * running process (dlsym) rather than linked, so the addon still loads where they are missing
 * (`aeadAvailable()` is then false and Noise keeps Node's crypto). One EVP context per thread and
 * direction, re-keyed per message (Noise's key is fixed but its nonce changes every message).
 *
 * N-API:
 *   aeadAvailable() -> bool
 *   aeadSeal(key32, nonce12, ad, src, out): out[0 .. n+16) = ciphertext || tag of src
 *     (a Uint8Array or an array of any number of them, n bytes in all); out must not overlap src.
 *   aeadOpen(key32, nonce12, ad, src, dst) -> bool: src is ciphertext || tag (one Uint8Array or
 *     pieces); the n-16 plaintext bytes go to dst, or over src's own first n-16 bytes when dst is
 *     null/undefined. false: the tag did not verify (whatever was written must not be used).
 * Bad arguments are TypeError/RangeError; nothing is read out of bounds.
 */
#include <dlfcn.h>
#include <limits.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's stable EVP ABI (evp.h): the AEAD controls and the functions this file needs */
#define AEAD_GET_TAG 0x10
#define AEAD_SET_TAG 0x11
#define TAG_LEN 16
#define MAX_PIECES 64 /* on the stack; more go to the heap */

typedef void evp_ctx;
typedef const void evp_cipher;

static struct {
  int tried, ok;
  evp_ctx *(*ctx_new)(void);
  evp_cipher *(*chacha)(void);
  int (*init)(evp_ctx *, evp_cipher *, void *, const unsigned char *, const unsigned char *, int);
  int (*update)(evp_ctx *, unsigned char *, int *, const unsigned char *, int);
  int (*final)(evp_ctx *, unsigned char *, int *);
  int (*ctrl)(evp_ctx *, int, int, void *);
} ossl;

/* per thread (a worker loads the addon too): [0] seals, [1] opens; set up with the cipher once */
static __thread evp_ctx *ctxs[2];

static bool ossl_load(void) {
  if (ossl.tried) return ossl.ok;
  ossl.tried = 1;
  *(void **)&ossl.ctx_new = dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_new");
  *(void **)&ossl.chacha = dlsym(RTLD_DEFAULT, "EVP_chacha20_poly1305");
  *(void **)&ossl.init = dlsym(RTLD_DEFAULT, "EVP_CipherInit_ex");
  *(void **)&ossl.update = dlsym(RTLD_DEFAULT, "EVP_CipherUpdate");
  *(void **)&ossl.final = dlsym(RTLD_DEFAULT, "EVP_CipherFinal_ex");
  *(void **)&ossl.ctrl = dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_ctrl");
  ossl.ok = ossl.ctx_new && ossl.chacha && ossl.init && ossl.update && ossl.final && ossl.ctrl && ossl.chacha() != NULL;
  return ossl.ok;
}

static evp_ctx *ctx_for(int enc) {
  evp_ctx **slot = &ctxs[enc ? 0 : 1];
  if (*slot == NULL) {
    evp_ctx *c = ossl.ctx_new();
    if (c == NULL) return NULL;
    if (ossl.init(c, ossl.chacha(), NULL, NULL, NULL, enc) != 1) return NULL; /* leaks one ctx per thread at worst */
    *slot = c;
  }
  return *slot;
}

typedef struct {
  unsigned char *p;
  size_t n;
} piece;

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static bool bytes_of(napi_env env, napi_value v, unsigned char **p, size_t *n) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type t;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, n, &data, &ab, &off) != napi_ok || t != napi_uint8_array) return false;
  *p = data;
  return true;
}

/*
 * src: one Uint8Array or an array of them (a message that spans many small socket reads has many
 * pieces). Fills `local` (MAX_PIECES) or, beyond that, a malloc'd array left in *heap for the
 * caller to free. Returns the piece count, -1 on a bad value, -2 out of memory.
 */
static int pieces_of(napi_env env, napi_value v, piece *local, piece **out, piece **heap, size_t *total) {
  *total = 0;
  *heap = NULL;
  *out = local;
  bool arr = false;
  napi_is_array(env, v, &arr);
  if (!arr) {
    if (!bytes_of(env, v, &local[0].p, &local[0].n)) return -1;
    *total = local[0].n;
    return 1;
  }
  uint32_t len = 0;
  if (napi_get_array_length(env, v, &len) != napi_ok || len > INT_MAX / 2) return -1;
  if (len > MAX_PIECES) {
    *heap = malloc(sizeof(piece) * len);
    if (*heap == NULL) return -2;
    *out = *heap;
  }
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || !bytes_of(env, e, &(*out)[i].p, &(*out)[i].n)) return -1;
    *total += (*out)[i].n;
  }
  return (int)len;
}

static napi_value bad_pieces(napi_env env, int np) {
  if (np == -2) napi_throw_error(env, NULL, "out of memory");
  else napi_throw_type_error(env, NULL, "src must be a Uint8Array or an array of them");
  return NULL;
}

/* What seal and open share: the call's arguments, key, nonce, ad and the src pieces. */
typedef struct {
  size_t argc;
  napi_value argv[5];
  unsigned char *key, *nonce, *ad;
  size_t adn, total;
  piece local[MAX_PIECES], *src, *heap;
  int np;
} call_args;

/*
 * Reads (key, nonce, ad, src, ...) into *a; false after throwing, with nothing left to free. On
 * true the caller owns a->heap (free(NULL) is fine). *a is not to be copied: a->src may point
 * into a->local.
 */
static bool read_call(napi_env env, napi_callback_info info, size_t min_argc, const char *usage, call_args *a) {
  size_t kn, nn;
  a->argc = 5;
  a->heap = NULL;
  if (napi_get_cb_info(env, info, &a->argc, a->argv, NULL, NULL) != napi_ok || a->argc < min_argc) { throw_type(env, usage); return false; }
  if (!ossl_load()) { napi_throw_error(env, NULL, "OpenSSL's ChaCha20-Poly1305 is not available in this process"); return false; }
  if (!bytes_of(env, a->argv[0], &a->key, &kn) || kn != 32) { throw_type(env, "key must be a 32-byte Uint8Array"); return false; }
  if (!bytes_of(env, a->argv[1], &a->nonce, &nn) || nn != 12) { throw_type(env, "nonce must be a 12-byte Uint8Array"); return false; }
  if (!bytes_of(env, a->argv[2], &a->ad, &a->adn) || a->adn > INT_MAX) { throw_type(env, "ad must be a Uint8Array"); return false; }
  a->np = pieces_of(env, a->argv[3], a->local, &a->src, &a->heap, &a->total);
  if (a->np < 0) { free(a->heap); a->heap = NULL; bad_pieces(env, a->np); return false; }
  return true;
}

static napi_value aead_available(napi_env env, napi_callback_info info) {
  napi_value r;
  napi_get_boolean(env, ossl_load(), &r);
  return r;
}

static napi_value aead_seal(napi_env env, napi_callback_info info) {
  call_args a;
  if (!read_call(env, info, 5, "aeadSeal(key, nonce, ad, src, out)", &a)) return NULL;
  unsigned char *key = a.key, *nonce = a.nonce, *ad = a.ad, *out;
  size_t adn = a.adn, outn, total = a.total;
  piece *src = a.src, *heap = a.heap;
  int np = a.np;
  if (!bytes_of(env, a.argv[4], &out, &outn)) { free(heap); return throw_type(env, "out must be a Uint8Array"); }
  if (total > (size_t)INT_MAX - TAG_LEN || outn < total + TAG_LEN) {
    free(heap);
    napi_throw_range_error(env, NULL, "out must hold src's length + 16");
    return NULL;
  }
  evp_ctx *c = ctx_for(1);
  int l = 0;
  bool ok = c != NULL && ossl.init(c, NULL, NULL, key, nonce, 1) == 1;
  if (ok && adn > 0) ok = ossl.update(c, NULL, &l, ad, (int)adn) == 1;
  size_t at = 0;
  for (int i = 0; ok && i < np; i++) {
    if (src[i].n == 0) continue;
    ok = ossl.update(c, out + at, &l, src[i].p, (int)src[i].n) == 1;
    at += (size_t)l;
  }
  if (ok) ok = ossl.final(c, out + at, &l) == 1;
  if (ok) at += (size_t)l;
  if (ok) ok = at == total && ossl.ctrl(c, AEAD_GET_TAG, TAG_LEN, out + total) == 1;
  free(heap);
  if (!ok) napi_throw_error(env, NULL, "ChaCha20-Poly1305 seal failed");
  return NULL;
}

static napi_value aead_open(napi_env env, napi_callback_info info) {
  call_args a;
  if (!read_call(env, info, 4, "aeadOpen(key, nonce, ad, src[, dst])", &a)) return NULL;
  unsigned char *key = a.key, *nonce = a.nonce, *ad = a.ad, *dst = NULL;
  size_t adn = a.adn, dstn = 0, total = a.total;
  piece *src = a.src, *heap = a.heap;
  int np = a.np;
  size_t argc = a.argc;
  napi_value *argv = a.argv;
  if (total < TAG_LEN || total > (size_t)INT_MAX) {
    free(heap);
    napi_throw_range_error(env, NULL, "src must hold at least the 16-byte tag");
    return NULL;
  }
  size_t n = total - TAG_LEN;
  napi_valuetype dt = napi_undefined;
  if (argc >= 5) napi_typeof(env, argv[4], &dt);
  if (dt != napi_undefined && dt != napi_null) {
    if (!bytes_of(env, argv[4], &dst, &dstn)) { free(heap); return throw_type(env, "dst must be a Uint8Array"); }
    if (dstn < n) {
      free(heap);
      napi_throw_range_error(env, NULL, "dst must hold src's length - 16");
      return NULL;
    }
  }
  /* the tag may straddle pieces: gather it first */
  unsigned char tag[TAG_LEN];
  {
    size_t at = 0, t = 0;
    for (int i = 0; i < np; i++) {
      size_t end = at + src[i].n;
      if (end > n) {
        size_t from = at >= n ? 0 : n - at;
        memcpy(tag + t, src[i].p + from, src[i].n - from);
        t += src[i].n - from;
      }
      at = end;
    }
  }
  evp_ctx *c = ctx_for(0);
  int l = 0;
  bool ok = c != NULL && ossl.init(c, NULL, NULL, key, nonce, 0) == 1;
  if (ok) ok = ossl.ctrl(c, AEAD_SET_TAG, TAG_LEN, tag) == 1;
  if (ok && adn > 0) ok = ossl.update(c, NULL, &l, ad, (int)adn) == 1;
  size_t left = n, at = 0;
  for (int i = 0; ok && i < np && left > 0; i++) {
    size_t take = src[i].n < left ? src[i].n : left;
    if (take == 0) continue;
    /* in place (exact overlap is allowed) or into dst */
    unsigned char *o = dst != NULL ? dst + at : src[i].p;
    ok = ossl.update(c, o, &l, src[i].p, (int)take) == 1;
    at += (size_t)l;
    left -= take;
  }
  free(heap);
  if (!ok) {
    napi_throw_error(env, NULL, "ChaCha20-Poly1305 open failed");
    return NULL;
  }
  /* final writes nothing for a stream cipher; a scratch byte keeps it away from the caller's memory */
  unsigned char scratch[32];
  bool verified = ossl.final(c, scratch, &l) == 1 && at == n;
  napi_value r;
  napi_get_boolean(env, verified, &r);
  return r;
}

napi_status aead_register(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
    { "aeadAvailable", NULL, aead_available, NULL, NULL, NULL, napi_default, NULL },
    { "aeadSeal", NULL, aead_seal, NULL, NULL, NULL, napi_default, NULL },
    { "aeadOpen", NULL, aead_open, NULL, NULL, NULL, napi_default, NULL },
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}

/*
 * Memory helpers for the daemon's idle reclaim (src/daemon/memory-reclaim.ts, issue 10), in the
 * one dmsnet addon (registered from native/tun/tun.c's init, like the PSK cipher).
 *
 * mallocTrim(): glibc's malloc_trim(0). free() gives memory back to the kernel only from the top of
 * the brk heap (above M_TRIM_THRESHOLD) and by unmapping whole mmap'd blocks; free pages in the
 * middle of an arena (the main brk heap and the per-thread arenas V8's and libuv's worker threads
 * allocate from) stay resident until something reuses them. malloc_trim walks every arena and
 * madvise(MADV_DONTNEED)s each whole free page. Returns true when some memory was released, false
 * when nothing was (or on a libc without malloc_trim: musl, macOS).
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h> /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value mem_malloc_trim(napi_env env, napi_callback_info info) {
  bool released = false;
#if defined(__GLIBC__)
  released = malloc_trim(0) == 1;
#endif
  napi_value out;
  if (napi_get_boolean(env, released, &out) != napi_ok) return NULL;
  return out;
}

static napi_value mem_supported(napi_env env, napi_callback_info info) {
  bool ok = false;
#if defined(__GLIBC__)
  ok = true;
#endif
  napi_value out;
  if (napi_get_boolean(env, ok, &out) != napi_ok) return NULL;
  return out;
}

napi_status mem_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "mallocTrim", NULL, mem_malloc_trim, NULL, NULL, NULL, napi_default_method, NULL },
    { "mallocTrimSupported", NULL, mem_supported, NULL, NULL, NULL, napi_default_method, NULL },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

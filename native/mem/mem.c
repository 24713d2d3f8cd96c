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
 *
 * adviseRange(start, length, advice): madvise(2) on one page-aligned range of this process, for the
 * reclaim's release of read-only file pages (src/daemon/memory-filepages.ts picks the ranges from
 * /proc/self/smaps, as does its `processReadahead`; neither passes anything writable or anonymous).
 * `advice` is "cold" (MADV_COLD: to the inactive list, nothing unmapped), "pageout" (MADV_PAGEOUT:
 * reclaimed now, but only pages no other process maps) or "dontneed" (MADV_DONTNEED: unmapped
 * here; clean file pages stay in the page cache and come back as minor faults) or "random"
 * (MADV_RANDOM: no read-ahead in that range, so a fault on a page not in the page cache reads that
 * page alone; memory-filepages.ts `processReadahead`). Returns 0 or the
 * errno (EINVAL for an unknown advice, a misaligned range or a kernel without it). Addresses come
 * in as doubles: user-space addresses on x86-64/arm64 are below 2^48, exact in a double.
 *
 * mallocInfo(): glibc's mallinfo2() over every arena, as { inUse, free, mmapped, topFree } bytes:
 * what of the process's anonymous memory outside V8's heap is malloc's, and how much of that is
 * free chunks malloc keeps (fragmentation malloc_trim may give back) rather than live allocations.
 * undefined on a libc without mallinfo2 (glibc < 2.33, musl, macOS).
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h> /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define HAVE_MALLINFO2 1
#endif

static napi_value mem_malloc_info(napi_env env, napi_callback_info info) {
  napi_value out;
#if defined(HAVE_MALLINFO2)
  struct mallinfo2 mi = mallinfo2();
  const char *names[] = { "inUse", "free", "mmapped", "topFree" };
  double values[] = { (double)mi.uordblks, (double)mi.fordblks, (double)mi.hblkhd, (double)mi.keepcost };
  if (napi_create_object(env, &out) != napi_ok) return NULL;
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    napi_value v;
    if (napi_create_double(env, values[i], &v) != napi_ok || napi_set_named_property(env, out, names[i], v) != napi_ok) return NULL;
  }
#else
  if (napi_get_undefined(env, &out) != napi_ok) return NULL;
#endif
  return out;
}

static int advice_of(const char *name) {
#if defined(MADV_COLD)
  if (strcmp(name, "cold") == 0) return MADV_COLD;
#endif
#if defined(MADV_PAGEOUT)
  if (strcmp(name, "pageout") == 0) return MADV_PAGEOUT;
#endif
  if (strcmp(name, "dontneed") == 0) return MADV_DONTNEED;
  if (strcmp(name, "random") == 0) return MADV_RANDOM;
  return -1;
}

static napi_value mem_advise_range(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "adviseRange(start, length, advice)");
    return NULL;
  }
  double start, length;
  char name[16] = { 0 };
  size_t len = 0;
  if (napi_get_value_double(env, argv[0], &start) != napi_ok || napi_get_value_double(env, argv[1], &length) != napi_ok ||
      napi_get_value_string_utf8(env, argv[2], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "adviseRange(start: number, length: number, advice: string)");
    return NULL;
  }
  int err = 0;
  long page = sysconf(_SC_PAGESIZE);
  int advice = advice_of(name);
  if (advice < 0 || start <= 0 || length <= 0 || start >= 9007199254740992.0 || length >= 9007199254740992.0) err = EINVAL;
  else {
    uintptr_t a = (uintptr_t)start;
    size_t n = (size_t)length;
    if (a % (uintptr_t)page != 0 || n % (size_t)page != 0) err = EINVAL;
    else if (madvise((void *)a, n, advice) != 0) err = errno;
  }
  napi_value out;
  if (napi_create_int32(env, err, &out) != napi_ok) return NULL;
  return out;
}

napi_status mem_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "mallocTrim", NULL, mem_malloc_trim, NULL, NULL, NULL, napi_default_method, NULL },
    { "mallocTrimSupported", NULL, mem_supported, NULL, NULL, NULL, napi_default_method, NULL },
    { "adviseRange", NULL, mem_advise_range, NULL, NULL, NULL, napi_default_method, NULL },
    { "mallocInfo", NULL, mem_malloc_info, NULL, NULL, NULL, napi_default_method, NULL },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

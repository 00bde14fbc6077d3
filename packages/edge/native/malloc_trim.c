// The C library's heap, for the edge's memory after a burst. glibc's malloc keeps the memory of
// freed small blocks (under the mmap threshold: buffers' backing stores, Node's and OpenSSL's
// allocations) inside its arenas; free() gives pages back only from the top of an arena, so
// after a burst the pages freed between blocks still in use stay resident. malloc_trim(0) walks
// every arena and hands each whole free page back to the kernel (MADV_DONTNEED).
//
// trim() returns true when memory was released, false when there was none, undefined where the
// C library is not glibc. stats() returns [in use, free but held, mmapped] bytes from
// mallinfo2() (undefined where there is no glibc).

#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value js_trim(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  napi_value out;
  napi_get_boolean(env, malloc_trim(0) == 1, &out);
  return out;
#else
  (void)env;
  return NULL;
#endif
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  struct mallinfo2 m = mallinfo2();
  double v[3] = {(double)m.uordblks, (double)m.fordblks, (double)m.hblkhd};
  napi_value out;
  napi_create_array_with_length(env, 3, &out);
  for (uint32_t i = 0; i < 3; i++) {
    napi_value n;
    napi_create_double(env, v[i], &n);
    napi_set_element(env, out, i, n);
  }
  return out;
#else
  (void)env;
  return NULL;
#endif
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"trim", NULL, js_trim, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(malloc_trim, init)

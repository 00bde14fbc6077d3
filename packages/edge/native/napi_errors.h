// Shared by the addons: a JavaScript error for a failed system call, with the errno's name as
// its code (what node's own errors carry) and strerror's text; and the type tags that tell one
// addon's handles from another's.

#ifndef GATEHOUSE_NAPI_ERRORS_H
#define GATEHOUSE_NAPI_ERRORS_H

#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static inline napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[256];
  const char* name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EIO", msg);
  return NULL;
}

// napi_unwrap hands back whatever pointer any addon wrapped in the object: another addon's
// handle (a tunnel relay's, given to a UDP socket's function) would be read as this addon's
// struct. Each addon tags the handles it wraps and unwraps only objects carrying its tag.

// Tag `obj` as this addon's handle (or find it already so, a closed handle used again); false
// when it carries another addon's tag.
static inline bool claim_handle(napi_env env, napi_value obj, const napi_type_tag* tag) {
  if (napi_type_tag_object(env, obj, tag) == napi_ok) return true;
  bool mine = false;
  return napi_check_object_type_tag(env, obj, tag, &mine) == napi_ok && mine;
}

// The pointer this addon wrapped in `obj`, or NULL (not an object, not this addon's handle, or
// no longer wrapped).
static inline void* unwrap_handle(napi_env env, napi_value obj, const napi_type_tag* tag) {
  bool mine = false;
  void* p = NULL;
  if (napi_check_object_type_tag(env, obj, tag, &mine) != napi_ok || !mine) return NULL;
  if (napi_unwrap(env, obj, &p) != napi_ok) return NULL;
  return p;
}

#endif

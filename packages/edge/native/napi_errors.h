// Shared by the addons: a JavaScript error for a failed system call, with the errno's name as
// its code (what node's own errors carry) and strerror's text.

#ifndef GATEHOUSE_NAPI_ERRORS_H
#define GATEHOUSE_NAPI_ERRORS_H

#include <node_api.h>
#include <stdio.h>
#include <string.h>

static inline napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[256];
  const char* name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EIO", msg);
  return NULL;
}

#endif

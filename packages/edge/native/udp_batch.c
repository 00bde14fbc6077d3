// Batched UDP for the DNS hot path: one socket, read with recvmmsg(2) and answered with
// sendmmsg(2), so a burst of queries costs one call into JavaScript and two system calls
// instead of a callback, a recvmsg and a sendmsg per datagram (which is where Node's dgram
// spends most of a cached answer's time).
//
// Node-API only (plus libuv's uv_poll, which Node exports), so one build loads in any Node
// version with the same N-API level. JavaScript owns the policy: the addon fills shared
// buffers with a batch of datagrams and their sources, calls the batch callback once, then
// sends every slot the callback gave a length to. Answers computed later (cache misses) go
// out through sendTo.

#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errors.h"

#define BATCH 64
#define IN_SLOT 4096    // largest query read whole; longer datagrams are flagged truncated
#define OUT_SLOT 4096   // largest answer written in place
#define ADDR_SLOT 20    // family(1) pad(1) port(2, network order) address(16)
#define MAX_ROUNDS 8    // batches per readiness event before yielding to the event loop

typedef struct {
  napi_env env;
  int fd;
  int family;
  uv_poll_t poll;
  int polling;
  int closing;
  napi_ref self;      // the JS handle object (kept alive while polling)
  napi_ref callback;  // onBatch(count)
  napi_async_context async;
  napi_ref buffers[5];  // the shared ArrayBuffers, detached on close
  uint8_t* in;
  uint8_t* out;
  int32_t* in_len;
  int32_t* out_len;
  uint8_t* addr;
  struct sockaddr_storage src[BATCH];
  struct iovec in_iov[BATCH];
  struct mmsghdr in_msg[BATCH];
  struct iovec out_iov[BATCH];
  struct mmsghdr out_msg[BATCH];
  // Counters read by JS for metrics.
  double batches, received, sent, send_errors, truncated;
} Sock;

static void encode_addr(uint8_t* slot, const struct sockaddr_storage* ss) {
  memset(slot, 0, ADDR_SLOT);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in* a = (const struct sockaddr_in*)ss;
    slot[0] = 4;
    memcpy(slot + 2, &a->sin_port, 2);
    memcpy(slot + 4, &a->sin_addr, 4);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6* a = (const struct sockaddr_in6*)ss;
    slot[0] = 6;
    memcpy(slot + 2, &a->sin6_port, 2);
    memcpy(slot + 4, &a->sin6_addr, 16);
  }
}

static void send_replies(Sock* s, int n) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    int32_t len = s->out_len[i];
    if (len <= 0 || len > OUT_SLOT) continue;
    s->out_iov[k].iov_base = s->out + (size_t)i * OUT_SLOT;
    s->out_iov[k].iov_len = (size_t)len;
    memset(&s->out_msg[k], 0, sizeof s->out_msg[k]);
    s->out_msg[k].msg_hdr.msg_iov = &s->out_iov[k];
    s->out_msg[k].msg_hdr.msg_iovlen = 1;
    s->out_msg[k].msg_hdr.msg_name = &s->src[i];
    s->out_msg[k].msg_hdr.msg_namelen =
        s->src[i].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    k++;
  }
  int done = 0;
  while (done < k) {
    int r = sendmmsg(s->fd, s->out_msg + done, (unsigned)(k - done), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      // A full send buffer or an unreachable client: UDP answers are best effort; skip one.
      s->send_errors++;
      done++;
      continue;
    }
    done += r;
    s->sent += r;
  }
}

static void on_readable(uv_poll_t* handle, int status, int events) {
  Sock* s = (Sock*)handle->data;
  if (status < 0 || !(events & UV_READABLE) || s->closing) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self, cb;
  napi_get_reference_value(env, s->self, &self);
  napi_get_reference_value(env, s->callback, &cb);
  for (int round = 0; round < MAX_ROUNDS && !s->closing; round++) {
    for (int i = 0; i < BATCH; i++) {
      s->in_iov[i].iov_base = s->in + (size_t)i * IN_SLOT;
      s->in_iov[i].iov_len = IN_SLOT;
      memset(&s->in_msg[i], 0, sizeof s->in_msg[i]);
      s->in_msg[i].msg_hdr.msg_iov = &s->in_iov[i];
      s->in_msg[i].msg_hdr.msg_iovlen = 1;
      s->in_msg[i].msg_hdr.msg_name = &s->src[i];
      s->in_msg[i].msg_hdr.msg_namelen = sizeof s->src[i];
    }
    int n = recvmmsg(s->fd, s->in_msg, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      int32_t len = (int32_t)s->in_msg[i].msg_len;
      if (s->in_msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
        s->truncated++;
        len = -len;  // JS treats a negative length as "too long to read whole"
      }
      s->in_len[i] = len;
      s->out_len[i] = 0;
      encode_addr(s->addr + (size_t)i * ADDR_SLOT, &s->src[i]);
    }
    s->batches++;
    s->received += n;
    napi_value argv[1], result;
    napi_create_int32(env, n, &argv[0]);
    napi_callback_scope cs;
    napi_open_callback_scope(env, self, s->async, &cs);
    napi_status st = napi_call_function(env, self, cb, 1, argv, &result);
    napi_close_callback_scope(env, cs);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
      break;
    }
    if (s->closing) break;
    send_replies(s, n);
    if (n < BATCH) break;
  }
  napi_close_handle_scope(env, scope);
}

static void on_poll_closed(uv_handle_t* h) {
  Sock* s = (Sock*)h->data;
  close(s->fd);
  free(s->in);
  free(s->out);
  free(s->in_len);
  free(s->out_len);
  free(s->addr);
  free(s);
}

static void detach_buffers(napi_env env, Sock* s);

static void finalize_sock(napi_env env, void* data, void* hint) {
  (void)hint;
  Sock* s = (Sock*)data;
  detach_buffers(env, s);
  // Closed explicitly before the object can be collected (close() drops the self reference);
  // an unclosed socket is closed here.
  if (!s->closing) {
    s->closing = 1;
    if (s->polling) uv_poll_stop(&s->poll);
    uv_close((uv_handle_t*)&s->poll, on_poll_closed);
  }
}

static Sock* unwrap(napi_env env, napi_value obj) {
  Sock* s = NULL;
  napi_unwrap(env, obj, (void**)&s);
  return s;
}

// The `want` arguments of a call whose first is a socket handle; the socket, or NULL when
// arguments are missing or the handle is not (or no longer) a socket.
static Sock* sock_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc >= want ? unwrap(env, argv[0]) : NULL;
}

static napi_value external_ab(napi_env env, Sock* s, int i, void* data, size_t len) {
  napi_value ab;
  // The memory is owned by the Sock; the buffers are handed out once and not used after close.
  if (napi_create_external_arraybuffer(env, data, len, NULL, NULL, &ab) != napi_ok) {
    // Runtimes that forbid external buffers: not expected on Node, fail loudly.
    napi_throw_error(env, "ENOTSUP", "external array buffers unavailable");
    return NULL;
  }
  napi_create_reference(env, ab, 1, &s->buffers[i]);
  return ab;
}

static void detach_buffers(napi_env env, Sock* s) {
  for (int i = 0; i < 5; i++) {
    if (!s->buffers[i]) continue;
    napi_value ab;
    if (napi_get_reference_value(env, s->buffers[i], &ab) == napi_ok && ab)
      napi_detach_arraybuffer(env, ab);
    napi_delete_reference(env, s->buffers[i]);
    s->buffers[i] = NULL;
  }
}

// open(host: string, port: number, reusePort: boolean, handle: object) -> actual port
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char host[64];
  size_t hl;
  int32_t port;
  bool reuse;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hl) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_bool(env, argv[2], &reuse) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "open(host, port, reusePort, handle)");
    return NULL;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  int family;
  if (inet_pton(AF_INET, host, &((struct sockaddr_in*)&ss)->sin_addr) == 1) {
    family = AF_INET;
    ((struct sockaddr_in*)&ss)->sin_family = AF_INET;
    ((struct sockaddr_in*)&ss)->sin_port = htons((uint16_t)port);
    sl = sizeof(struct sockaddr_in);
  } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6*)&ss)->sin6_addr) == 1) {
    family = AF_INET6;
    ((struct sockaddr_in6*)&ss)->sin6_family = AF_INET6;
    ((struct sockaddr_in6*)&ss)->sin6_port = htons((uint16_t)port);
    sl = sizeof(struct sockaddr_in6);
  } else {
    napi_throw_error(env, "EINVAL", "not an IP address");
    return NULL;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (reuse) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, "SO_REUSEPORT", e);
    }
  }
  if (bind(fd, (struct sockaddr*)&ss, sl) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, (struct sockaddr*)&bound, &bl);
  int actual = ntohs(family == AF_INET ? ((struct sockaddr_in*)&bound)->sin_port
                                       : ((struct sockaddr_in6*)&bound)->sin6_port);
  Sock* s = calloc(1, sizeof(Sock));
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->in = malloc((size_t)BATCH * IN_SLOT);
  s->out = malloc((size_t)BATCH * OUT_SLOT);
  s->in_len = calloc(BATCH, sizeof(int32_t));
  s->out_len = calloc(BATCH, sizeof(int32_t));
  s->addr = calloc(BATCH, ADDR_SLOT);
  if (!s->in || !s->out || !s->in_len || !s->out_len || !s->addr) {
    free(s->in);
    free(s->out);
    free(s->in_len);
    free(s->out_len);
    free(s->addr);
    free(s);
    close(fd);
    return throw_errno(env, "allocating the batch buffers", ENOMEM);
  }
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  if (napi_wrap(env, argv[3], s, finalize_sock, NULL, NULL) != napi_ok) {
    s->closing = 1;
    uv_close((uv_handle_t*)&s->poll, on_poll_closed);  // frees s and closes fd
    napi_throw_type_error(env, "EINVAL", "open: the handle must be a plain object");
    return NULL;
  }
  napi_value obj = argv[3], v;
  napi_set_named_property(env, obj, "input", external_ab(env, s, 0, s->in, (size_t)BATCH * IN_SLOT));
  napi_set_named_property(env, obj, "output",
                          external_ab(env, s, 1, s->out, (size_t)BATCH * OUT_SLOT));
  napi_set_named_property(env, obj, "inputLengths", external_ab(env, s, 2, s->in_len, BATCH * 4));
  napi_set_named_property(env, obj, "outputLengths",
                          external_ab(env, s, 3, s->out_len, BATCH * 4));
  napi_set_named_property(env, obj, "addresses",
                          external_ab(env, s, 4, s->addr, BATCH * ADDR_SLOT));
  napi_create_int32(env, actual, &v);
  return v;
}

// start(handle, onBatch)
static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Sock* s = sock_args(env, info, 2, argv);
  if (!s || s->closing || s->polling) {
    napi_throw_error(env, "EINVAL", "start: closed or already started");
    return NULL;
  }
  napi_create_reference(env, argv[0], 1, &s->self);
  napi_create_reference(env, argv[1], 1, &s->callback);
  napi_value name;
  napi_create_string_utf8(env, "gatehouse.udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, argv[0], name, &s->async);
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  s->polling = 1;
  return NULL;
}

// sendTo(handle, data: Uint8Array, family: 4|6, address: Uint8Array(4|16), port) -> bool
static napi_value js_send_to(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  Sock* s = sock_args(env, info, 5, argv);
  napi_value res;
  if (!s || s->closing) {
    napi_get_boolean(env, false, &res);
    return res;
  }
  void *data, *addr;
  size_t len, alen;
  int32_t fam, port;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &off) != napi_ok ||
      napi_get_value_int32(env, argv[2], &fam) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &t, &alen, &addr, &ab, &off) != napi_ok ||
      napi_get_value_int32(env, argv[4], &port) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "sendTo(handle, data, family, address, port)");
    return NULL;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  if (fam == 4 && alen == 4) {
    struct sockaddr_in* a = (struct sockaddr_in*)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    memcpy(&a->sin_addr, addr, 4);
    sl = sizeof *a;
  } else if (fam == 6 && alen == 16) {
    struct sockaddr_in6* a = (struct sockaddr_in6*)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    memcpy(&a->sin6_addr, addr, 16);
    sl = sizeof *a;
  } else {
    napi_throw_type_error(env, "EINVAL", "bad address");
    return NULL;
  }
  ssize_t r;
  do r = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr*)&ss, sl);
  while (r < 0 && errno == EINTR);
  if (r < 0) s->send_errors++;
  else s->sent++;
  napi_get_boolean(env, r >= 0, &res);
  return res;
}

// stats(handle) -> [batches, received, sent, sendErrors, truncated]
static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], arr, v;
  Sock* s = sock_args(env, info, 1, argv);
  napi_create_array_with_length(env, 5, &arr);
  double vals[5] = {0, 0, 0, 0, 0};
  if (s) {
    vals[0] = s->batches;
    vals[1] = s->received;
    vals[2] = s->sent;
    vals[3] = s->send_errors;
    vals[4] = s->truncated;
  }
  for (uint32_t i = 0; i < 5; i++) {
    napi_create_double(env, vals[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// close(handle): stop reading, close the socket; the buffers must not be used afterwards.
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Sock* s = sock_args(env, info, 1, argv);
  if (!s || s->closing) return NULL;
  s->closing = 1;
  if (s->polling) {
    uv_poll_stop(&s->poll);
    napi_delete_reference(env, s->callback);
    napi_delete_reference(env, s->self);
    napi_async_destroy(env, s->async);
    s->polling = 0;
  }
  detach_buffers(env, s);
  napi_remove_wrap(env, argv[0], NULL);
  uv_close((uv_handle_t*)&s->poll, on_poll_closed);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"sendTo", NULL, js_send_to, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_int32(env, BATCH, &v);
  napi_set_named_property(env, exports, "BATCH", v);
  napi_create_int32(env, IN_SLOT, &v);
  napi_set_named_property(env, exports, "IN_SLOT", v);
  napi_create_int32(env, OUT_SLOT, &v);
  napi_set_named_property(env, exports, "OUT_SLOT", v);
  napi_create_int32(env, ADDR_SLOT, &v);
  napi_set_named_property(env, exports, "ADDR_SLOT", v);
  return exports;
}

NAPI_MODULE(udp_batch, init)

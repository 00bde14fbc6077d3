// Zero-copy relay for proxy tunnels (CONNECT, upgraded connections): bytes move between two
// connected TCP sockets with splice(2) through one pipe per direction, so they never enter
// user space and no JavaScript runs per chunk. libuv drives it (uv_poll on the loop Node-API
// hands out), polling a source for readability only while its pipe is empty and a
// destination for writability only while its pipe holds bytes: a slow side stops the reads
// of the other (backpressure), and memory per tunnel is two pipes, whatever the traffic.
//
// JavaScript hands over the sockets' descriptors once it stopped reading and writing them;
// they are duplicated here, so Node's own watchers on the originals stay as they were. The
// end of one direction (EOF read) becomes a shutdown(SHUT_WR) of the other socket once its
// pipe drained, so half-closes go through in order. When both directions ended, on the
// first error, or on abort(), everything opened here is closed and the completion callback
// runs once with the bytes delivered each way and an error code (or null).

#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errors.h"

// Pipe sizes. The first BIG_PIPE_RELAYS relays open at once ask for BIG_PIPE_BYTES per pipe,
// which costs about a fifth less CPU per byte on a fast tunnel (bench/proxy/tunnel-cpu.ts);
// the rest keep the kernel's 64 KiB, because every pipe slot counts against the user's pipe
// allowance (fs.pipe-user-pages-soft, 16,384 pages by default; past it new pipes get two).
#define BIG_PIPE_BYTES (256 * 1024)
#define BIG_PIPE_RELAYS 16
static int big_pipe_relays;  // relays holding big pipes now (all threads of the process)

#define MAX_ROUNDS 16            // splice rounds per readiness event before yielding
#define SPLICE_FLAGS (SPLICE_F_NONBLOCK | SPLICE_F_MOVE)

typedef struct {
  int pipe_r, pipe_w;
  size_t buffered;  // bytes in the pipe
  size_t cap;       // the pipe's capacity
  int eof;          // the source ended (EOF read)
  int shut;         // the EOF was passed on: shutdown(destination, SHUT_WR) done
  double bytes;     // delivered to the destination
} Dir;

typedef struct {
  napi_env env;
  uv_loop_t* loop;
  int fd[2];  // duplicates: 0 = client, 1 = upstream
  uv_poll_t poll[2];
  int mask[2];  // events polled now per descriptor
  int handles;  // poll handles not yet closed
  Dir dir[2];   // dir[i] reads fd[i] and writes fd[1 - i]: 0 = up, 1 = down
  int big_pipes;  // counted in big_pipe_relays
  int finishing;
  int silent;  // the environment is going away: no JavaScript at completion
  int err;     // first error (errno), 0 for none; ECANCELED for abort()
  uint64_t last;  // loop time (ms) of the last bytes moved
  napi_ref self;  // the JS handle, kept alive while relaying
  napi_ref callback;
  napi_async_context async;
} Relay;

static void close_fd(int* fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static void close_all_fds(Relay* r) {
  for (int i = 0; i < 2; i++) {
    close_fd(&r->fd[i]);
    close_fd(&r->dir[i].pipe_r);
    close_fd(&r->dir[i].pipe_w);
  }
  if (r->big_pipes) {
    r->big_pipes = 0;
    __atomic_fetch_sub(&big_pipe_relays, 1, __ATOMIC_RELAXED);
  }
}

static void complete(Relay* r) {
  close_all_fds(r);
  if (r->silent) {
    free(r);
    return;
  }
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    free(r);
    return;
  }
  napi_value self, cb, argv[3], result;
  napi_get_reference_value(env, r->self, &self);
  napi_get_reference_value(env, r->callback, &cb);
  napi_create_double(env, r->dir[0].bytes, &argv[0]);
  napi_create_double(env, r->dir[1].bytes, &argv[1]);
  if (r->err == 0) {
    napi_get_null(env, &argv[2]);
  } else {
    const char* name = strerrorname_np(r->err);
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &argv[2]);
  }
  // Detached first: the handle answers nothing more once the callback runs.
  void* unused;
  napi_remove_wrap(env, self, &unused);
  napi_status st = napi_make_callback(env, r->async, self, cb, 3, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_async_destroy(env, r->async);
  napi_delete_reference(env, r->callback);
  napi_delete_reference(env, r->self);
  napi_close_handle_scope(env, scope);
  free(r);
}

static void on_closed(uv_handle_t* h) {
  Relay* r = (Relay*)h->data;
  if (--r->handles == 0) complete(r);
}

/** Stop polling, close both poll handles; the rest happens once they are closed. */
static void finish(Relay* r, int err) {
  if (r->finishing) return;
  r->finishing = 1;
  r->err = err;
  for (int i = 0; i < 2; i++) {
    uv_poll_stop(&r->poll[i]);
    uv_close((uv_handle_t*)&r->poll[i], on_closed);
  }
}

/** Move what can be moved one way now; 0, or the errno that ends the relay. */
static int pump(Relay* r, int i) {
  Dir* d = &r->dir[i];
  int src = r->fd[i], dst = r->fd[1 - i];
  for (int round = 0; round < MAX_ROUNDS; round++) {
    int progress = 0;
    if (!d->eof && d->buffered < d->cap) {
      ssize_t n = splice(src, NULL, d->pipe_w, NULL, d->cap - d->buffered, SPLICE_FLAGS);
      if (n > 0) {
        d->buffered += (size_t)n;
        r->last = uv_now(r->loop);
        progress = 1;
      } else if (n == 0) {
        d->eof = 1;
      } else if (errno != EAGAIN && errno != EINTR) {
        return errno;
      }
    }
    if (d->buffered > 0) {
      ssize_t n = splice(d->pipe_r, NULL, dst, NULL, d->buffered, SPLICE_FLAGS);
      if (n > 0) {
        d->buffered -= (size_t)n;
        d->bytes += (double)n;
        r->last = uv_now(r->loop);
        progress = 1;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return errno;
      }
    }
    if (d->eof && d->buffered == 0) {
      if (!d->shut) {
        d->shut = 1;
        if (shutdown(dst, SHUT_WR) < 0 && errno != ENOTCONN) return errno;
      }
      return 0;
    }
    if (!progress) break;
  }
  return 0;
}

static void on_event(uv_poll_t* h, int status, int events);

/** Poll each descriptor for what its two directions wait for now. */
static void update_polls(Relay* r) {
  for (int k = 0; k < 2; k++) {
    const Dir* in = &r->dir[k];       // reads fd[k]
    const Dir* out = &r->dir[1 - k];  // writes fd[k]
    int mask = 0;
    if (!in->eof && in->buffered == 0) mask |= UV_READABLE;
    if (out->buffered > 0) mask |= UV_WRITABLE;
    if (mask == r->mask[k]) continue;
    r->mask[k] = mask;
    if (mask == 0) uv_poll_stop(&r->poll[k]);
    else uv_poll_start(&r->poll[k], mask, on_event);
  }
}

static void on_event(uv_poll_t* h, int status, int events) {
  Relay* r = (Relay*)h->data;
  if (r->finishing) return;
  int k = h == &r->poll[0] ? 0 : 1;
  if (status < 0) {
    // An error condition on the socket (libuv stopped this poll): its pending error, if any.
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(r->fd[k], SOL_SOCKET, SO_ERROR, &soerr, &len);
    finish(r, soerr != 0 ? soerr : EIO);
    return;
  }
  int err = 0;
  if (events & UV_READABLE) err = pump(r, k);
  if (err == 0 && (events & UV_WRITABLE)) err = pump(r, 1 - k);
  if (err != 0) {
    finish(r, err);
    return;
  }
  if (r->dir[0].shut && r->dir[1].shut) {
    finish(r, 0);
    return;
  }
  update_polls(r);
}

static void finalize_relay(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  // Only reached when the environment goes away while relaying (a running relay holds its
  // handle): close what is open without calling into JavaScript.
  Relay* r = (Relay*)data;
  r->silent = 1;
  finish(r, ECANCELED);
}

// The tag on this addon's handles (napi_errors.h: another addon's handle is not a Relay).
static const napi_type_tag RELAY_TAG = {0x6761746568756470ULL, 0x74756e6e656c5f72ULL};

static Relay* unwrap(napi_env env, napi_value obj) {
  return (Relay*)unwrap_handle(env, obj, &RELAY_TAG);
}

static int is_stream_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static int open_pipe(Dir* d, int big) {
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) return errno;
  d->pipe_r = p[0];
  d->pipe_w = p[1];
  // Past the user's pipe allowance the kernel says no and the pipe stays as it is.
  if (big) fcntl(p[1], F_SETPIPE_SZ, BIG_PIPE_BYTES);
  int cap = fcntl(p[1], F_GETPIPE_SZ);
  d->cap = cap > 0 ? (size_t)cap : 65536;
  return 0;
}

// start(handle: object, clientFd, upstreamFd, onDone(up, down, error | null))
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t cfd, ufd;
  napi_valuetype t0 = napi_undefined, t3 = napi_undefined;
  if (argc >= 4) {
    napi_typeof(env, argv[0], &t0);
    napi_typeof(env, argv[3], &t3);
  }
  if (argc < 4 || t0 != napi_object || t3 != napi_function ||
      napi_get_value_int32(env, argv[1], &cfd) != napi_ok ||
      napi_get_value_int32(env, argv[2], &ufd) != napi_ok || cfd < 0 || ufd < 0 || cfd == ufd) {
    napi_throw_type_error(env, "EINVAL", "start(handle, clientFd, upstreamFd, onDone)");
    return NULL;
  }
  if (!claim_handle(env, argv[0], &RELAY_TAG)) {
    napi_throw_type_error(env, "EINVAL", "start: the handle is another addon's");
    return NULL;
  }
  if (!is_stream_socket(cfd) || !is_stream_socket(ufd)) {
    napi_throw_error(env, "EINVAL", "start: both descriptors must be stream sockets");
    return NULL;
  }
  Relay* r = calloc(1, sizeof(Relay));
  if (!r) return throw_errno(env, "allocating the relay", ENOMEM);
  r->env = env;
  r->fd[0] = r->fd[1] = -1;
  for (int i = 0; i < 2; i++) r->dir[i].pipe_r = r->dir[i].pipe_w = -1;
  const char* what = "dup";
  int err = 0;
  r->fd[0] = fcntl(cfd, F_DUPFD_CLOEXEC, 3);
  if (r->fd[0] < 0) err = errno;
  if (!err) {
    r->fd[1] = fcntl(ufd, F_DUPFD_CLOEXEC, 3);
    if (r->fd[1] < 0) err = errno;
  }
  for (int i = 0; i < 2 && !err; i++) {
    int fl = fcntl(r->fd[i], F_GETFL);
    if (fl < 0 || fcntl(r->fd[i], F_SETFL, fl | O_NONBLOCK) < 0) {
      err = errno;
      what = "O_NONBLOCK";
    }
  }
  if (!err && __atomic_add_fetch(&big_pipe_relays, 1, __ATOMIC_RELAXED) <= BIG_PIPE_RELAYS) {
    r->big_pipes = 1;
  } else if (!err) {
    __atomic_fetch_sub(&big_pipe_relays, 1, __ATOMIC_RELAXED);
  }
  for (int i = 0; i < 2 && !err; i++) {
    err = open_pipe(&r->dir[i], r->big_pipes);
    what = "pipe";
  }
  if (!err && napi_get_uv_event_loop(env, &r->loop) != napi_ok) {
    err = EIO;
    what = "event loop";
  }
  for (int i = 0; i < 2 && !err; i++) {
    int e = uv_poll_init(r->loop, &r->poll[i], r->fd[i]);
    if (e < 0) {
      err = -e;
      what = "uv_poll_init";
      // The first poll handle is open: close it, and the descriptors once it is closed.
      if (i == 1) {
        r->silent = 1;
        r->finishing = 1;
        r->handles = 1;
        r->poll[0].data = r;
        uv_close((uv_handle_t*)&r->poll[0], on_closed);
        return throw_errno(env, what, err);
      }
    }
    r->poll[i].data = r;
  }
  if (err) {
    close_all_fds(r);
    free(r);
    return throw_errno(env, what, err);
  }
  r->handles = 2;
  if (napi_wrap(env, argv[0], r, finalize_relay, NULL, NULL) != napi_ok) {
    r->silent = 1;
    finish(r, EINVAL);
    napi_throw_type_error(env, "EINVAL", "start: the handle must be a plain object");
    return NULL;
  }
  napi_create_reference(env, argv[0], 1, &r->self);
  napi_create_reference(env, argv[3], 1, &r->callback);
  napi_value name;
  napi_create_string_utf8(env, "gatehouse.tunnel", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, argv[0], name, &r->async);
  r->last = uv_now(r->loop);
  // Bytes may already wait on either side: the first readiness events move them.
  update_polls(r);
  return NULL;
}

// stats(handle) -> [up, down, idleMs], or undefined once the relay completed
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Relay* r = argc >= 1 ? unwrap(env, argv[0]) : NULL;
  if (!r) return NULL;
  uint64_t now = uv_now(r->loop);
  double vals[3] = {r->dir[0].bytes, r->dir[1].bytes, (double)(now > r->last ? now - r->last : 0)};
  napi_create_array_with_length(env, 3, &arr);
  for (uint32_t i = 0; i < 3; i++) {
    napi_create_double(env, vals[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// abort(handle): stop now; the completion callback follows (error "ECANCELED").
static napi_value js_abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Relay* r = argc >= 1 ? unwrap(env, argv[0]) : NULL;
  if (r) finish(r, ECANCELED);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, js_abort, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(tunnel_splice, init)

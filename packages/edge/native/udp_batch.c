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
//
// The same socket serves the edge's upstream queries (dns/upstream/udp-ports.ts): `connect`
// opens one connected to an upstream (the kernel delivers only that address's datagrams) on an
// OS-chosen port, with CLIENT_BATCH receive slots and no reply slots; `send` sends a query on
// it, `sendQueued` the queries queued in one turn with sendmmsg; replies are read in batches as
// above. It does not hold the event loop open.
//
// Packet-cache hits in C (`fastEnable`): a listening socket may keep copies of the edge's
// packet-cache entries (dns/packet-cache.ts), stored by JavaScript with `fastStore` after it
// answered a repeat from one, keyed exactly as there: the lowercased question, the EDNS state
// (none / EDNS / DO), the AD and CD bits, and the client's location (a class number JavaScript
// gives each source address it answered from the cache, so only sources it has identified,
// with no per-client settings, are answered here; with a per-source rate limit, while the
// source's copy of its token bucket holds a token — see IpEntry). A datagram the same parse
// as parseFastQuery accepts, from a known source, whose entry is unexpired, not due for
// refresh and fits the requester's UDP size, is answered in C — the stored bytes with the
// query's ID, RD bit and question case, TTLs aged since storage — and a hit record (time,
// duration, entry slot, source) goes into a ring that JavaScript drains in bulk (at each batch
// it is called for, at 3/4 full, or 2 ms after the first record) to log and count it as the
// fast path does. Everything else goes to JavaScript as before. `fastClear` forgets every
// entry and source (a config swap: JavaScript drains the ring first).

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
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errors.h"

#define BATCH 64
#define IN_SLOT 4096    // largest query read whole; longer datagrams are flagged truncated
#define OUT_SLOT 4096   // largest answer written in place
#define ADDR_SLOT 20    // family(1) pad(1) port(2, network order) address(16)
#define MAX_ROUNDS 8    // batches per readiness event before yielding to the event loop
#define CLIENT_BATCH 16    // receive slots of an upstream socket
#define CLIENT_IN_SLOT 4096  // largest upstream reply read whole (we advertise 1232 in EDNS)
#define OUR_UDP_SIZE 1232    // dns/wire/edns.ts: the largest UDP answer we send
#define FAST_SLOTS 16384     // packet-cache copies (a power of two)
#define FAST_PROBE 8         // slots probed from a key's home slot
#define FAST_BYTES (8u << 20)  // bytes the copies may hold
#define IP_SLOTS 4096        // known sources (a power of two); full: forgotten, learnt again
#define HIT_RING 4096        // hit records before JavaScript must drain
#define HIT_REC 48           // ts f64 @0, duration ms f64 @8, slot i32 @16, source @24 (ADDR_SLOT)
#define DRAIN_MS 2           // a record waits at most this long for a drain

// One packet-cache copy: `mem` holds the lowercased question (qlen bytes from offset 12), the
// answer (alen) and the TTL fields to age as (offset, TTL) uint32 pairs (nttl).
typedef struct {
  uint8_t* mem;
  double stored, expires, refresh;  // ms since the epoch, as Date.now(); refresh 0: never
  uint32_t hash;
  uint16_t qlen, alen, nttl;
  int32_t cls;  // the client's location class plus one; 0: an empty slot (calloc's zeros)
  uint8_t edns, adcd;
} FastEntry;

// A known source: family (4 or 6) and address; `cls` its location class. With a per-source
// rate limit (`rate` > 0, tokens per ms, up to `burst`), its token bucket: seeded from
// JavaScript's (dns/rate-limiter.ts) at each fastStore and spent here for every answer given
// here; JavaScript charges its own bucket the same answers when it drains their records, so
// both agree, and once this one is empty the source's queries go to JavaScript, which refuses
// or drops them as configured.
typedef struct {
  uint8_t fam;
  uint8_t addr[16];
  int32_t cls;
  double tokens, last, rate, burst;
} IpEntry;

typedef struct {
  FastEntry* slots;
  IpEntry* ips;
  int nips;
  size_t bytes;
  int enabled;
  // This socket's hash seed, so nobody can precompute names (or sources) that share a probe
  // window. Per socket: worker threads enable theirs at the same time.
  uint32_t seed;
  uint8_t* hits;    // HIT_RING records, shared with JavaScript
  int32_t* hit_n;   // [0]: records written; JavaScript sets it to 0 when it has drained them
  uv_timer_t* timer;
  int timer_armed;
  double answered;  // datagrams answered here
} Fast;

typedef struct {
  napi_env env;
  int fd;
  int family;
  uv_poll_t* poll;   // apart from the Sock: see finalize_sock
  int polling;
  int closing;
  int nslots;         // BATCH for a listening socket, CLIENT_BATCH for an upstream one
  size_t in_slot, out_slot;
  napi_ref self;      // the JS handle object (kept alive while polling)
  napi_ref callback;  // onBatch(count)
  napi_async_context async;
  napi_ref buffers[10];  // the shared ArrayBuffers, detached on close
  uint8_t* in;
  uint8_t* out;
  int32_t* in_len;
  int32_t* out_len;
  uint8_t* addr;
  // Answers computed later (cache misses), queued by JS and sent together by sendMany.
  uint8_t* pend;
  int32_t* pend_len;
  uint8_t* pend_addr;
  struct sockaddr_storage pend_dst[BATCH];
  struct sockaddr_storage src[BATCH];
  struct iovec in_iov[BATCH];
  struct mmsghdr in_msg[BATCH];
  struct iovec out_iov[BATCH];
  struct mmsghdr out_msg[BATCH];
  Fast* fast;  // packet-cache copies (fastEnable), NULL until enabled
  // Counters read by JS for metrics.
  double batches, received, sent, send_errors, truncated, socket_errors;
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

// Send the first `n` slots of `data` (lengths `lens`, 0: nothing to send) to `dst` with as few
// sendmmsg calls as the kernel allows.
static void send_slots(Sock* s, int n, uint8_t* data, const int32_t* lens,
                       struct sockaddr_storage* dst) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    int32_t len = lens[i];
    if (len <= 0 || (size_t)len > s->out_slot) continue;
    s->out_iov[k].iov_base = data + (size_t)i * s->out_slot;
    s->out_iov[k].iov_len = (size_t)len;
    memset(&s->out_msg[k], 0, sizeof s->out_msg[k]);
    s->out_msg[k].msg_hdr.msg_iov = &s->out_iov[k];
    s->out_msg[k].msg_hdr.msg_iovlen = 1;
    s->out_msg[k].msg_hdr.msg_name = &dst[i];
    s->out_msg[k].msg_hdr.msg_namelen =
        dst[i].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
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

static void send_replies(Sock* s, int n) { send_slots(s, n, s->out, s->out_len, s->src); }

// ---- Packet-cache hits in C (see the top of the file) ----

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000 + (double)(ts.tv_nsec / 1000000);
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

// What the parse of a plain query learns (dns/packet-cache.ts parseFastQuery, the same rules).
typedef struct {
  int qend;        // offset after the question
  int edns;        // 0: none, 1: EDNS, 2: EDNS with DO
  int adcd;        // header byte 3 & 0x30
  int udp_max;     // the largest answer the requester takes (maxUdpResponse)
  uint32_t hash;   // FNV-1a of the lowercased question, edns, adcd (class mixed in by the caller)
  uint8_t q[260];  // the lowercased question (name, type, class)
} FastQuery;

static inline uint32_t fnv(uint32_t h, uint32_t v) { return (h ^ v) * 0x01000193u; }

// 1 when `b` (n bytes) is a query the fast path may answer, its parts in `fq`; 0 otherwise.
static int fast_parse(uint32_t seed, const uint8_t* b, int n, FastQuery* fq) {
  if (n < 17 || n > 512) return 0;
  if ((b[2] & 0xfb) != 0x01 || b[4] != 0 || b[5] != 1 || b[6] != 0 || b[7] != 0 || b[8] != 0 ||
      b[9] != 0 || b[10] != 0)
    return 0;
  int ar = b[11];
  if (ar > 1) return 0;
  int o = 12;
  uint32_t h = 0x811c9dc5u ^ seed;
  for (;;) {
    if (o >= n) return 0;
    int len = b[o];
    fq->q[o - 12] = (uint8_t)len;
    h = fnv(h, (uint32_t)len);
    if (len == 0) break;
    // Longer than a label, past the datagram, or a name past 255 octets: refused before the
    // label is copied (`q` holds 255 octets of name, its terminating zero, type and class).
    if (len > 63 || o + 1 + len >= n || o + 1 + len - 12 > 255) return 0;
    for (int i = o + 1; i <= o + len; i++) {
      uint8_t c = b[i];
      if (c == 0x2e || c == 0x5c || c < 0x21 || c > 0x7e) return 0;  // escapes: slow path
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      fq->q[i - 12] = c;
      h = fnv(h, c);
    }
    o += 1 + len;
  }
  o++;
  if (o + 4 > n) return 0;
  memcpy(fq->q + (o - 12), b + o, 4);
  h = fnv(h, ((uint32_t)b[o] << 8) | b[o + 1]);
  h = fnv(h, ((uint32_t)b[o + 2] << 8) | b[o + 3]);
  o += 4;
  fq->qend = o;
  if (ar == 0) {
    if (o != n) return 0;
    fq->edns = 0;
    fq->udp_max = 512;
  } else {
    // OPT: root name, type 41, class = UDP size, TTL = ext-rcode/version/flags, RDLEN.
    if (o + 11 > n || b[o] != 0 || b[o + 1] != 0 || b[o + 2] != 41) return 0;
    if (b[o + 5] != 0 || b[o + 6] != 0) return 0;  // ext rcode and version 0
    int rdlen = (b[o + 9] << 8) | b[o + 10];
    if (o + 11 + rdlen != n) return 0;
    // Options that change the answer (NSID 3, Padding 12) take the pipeline.
    int p = o + 11;
    while (p < n) {
      if (p + 4 > n) return 0;
      int code = (b[p] << 8) | b[p + 1];
      if (code == 3 || code == 12) return 0;
      p += 4 + ((b[p + 2] << 8) | b[p + 3]);
    }
    if (p != n) return 0;
    int size = (b[o + 3] << 8) | b[o + 4];
    fq->udp_max = size < 512 ? 512 : size > OUR_UDP_SIZE ? OUR_UDP_SIZE : size;
    fq->edns = (b[o + 7] & 0x80) ? 2 : 1;
  }
  fq->adcd = b[3] & 0x30;
  h = fnv(h, (uint32_t)fq->edns);
  h = fnv(h, (uint32_t)fq->adcd);
  fq->hash = h;
  return 1;
}

// Seeded as the copies' hash is: sources that share one probe run cannot be chosen beforehand
// (thousands of them would make every datagram's lookup walk the run).
static uint32_t ip_hash(uint32_t seed, int fam, const uint8_t* a) {
  uint32_t h = (0x811c9dc5u ^ seed) ^ (uint32_t)fam;
  for (int i = 0; i < (fam == 4 ? 4 : 16); i++) h = fnv(h, a[i]);
  return h;
}

// The source's family and address bytes from a sockaddr; 0 for another family.
static int src_of(const struct sockaddr_storage* ss, const uint8_t** a) {
  if (ss->ss_family == AF_INET) {
    *a = (const uint8_t*)&((const struct sockaddr_in*)ss)->sin_addr;
    return 4;
  }
  if (ss->ss_family == AF_INET6) {
    *a = (const uint8_t*)&((const struct sockaddr_in6*)ss)->sin6_addr;
    return 6;
  }
  return 0;
}

// The IP table slot of (fam, a): its own, or the empty one where it would go; -1 when the
// probe found neither.
static int ip_slot(Fast* f, int fam, const uint8_t* a) {
  size_t alen = fam == 4 ? 4 : 16;
  uint32_t i = ip_hash(f->seed, fam, a) & (IP_SLOTS - 1);
  for (int k = 0; k < IP_SLOTS; k++, i = (i + 1) & (IP_SLOTS - 1)) {
    IpEntry* e = &f->ips[i];
    if (e->fam == 0) return (int)i;
    if (e->fam == fam && memcmp(e->addr, a, alen) == 0) return (int)i;
  }
  return -1;
}

static void fast_forget(Fast* f) {
  // (Nothing copied yet: the slots' pages stay untouched.)
  for (int i = 0; f->bytes > 0 && i < FAST_SLOTS; i++) {
    free(f->slots[i].mem);
    f->slots[i].mem = NULL;
    f->slots[i].cls = 0;
  }
  if (f->nips > 0) memset(f->ips, 0, sizeof(IpEntry) * IP_SLOTS);
  f->nips = 0;
  f->bytes = 0;
}

// Whether copy `c` is the one for query `fq` from a source of class `cls` (`h`: the key's hash).
static inline int same_key(const FastEntry* c, int32_t cls, uint32_t h, const FastQuery* fq) {
  int qlen = fq->qend - 12;
  return c->cls == cls + 1 && c->hash == h && c->qlen == qlen && c->edns == fq->edns &&
         c->adcd == fq->adcd && memcmp(c->mem, fq->q, (size_t)qlen) == 0;
}

// Answer query slot `i` (n bytes) from a copy into its reply slot; the answer's length, or 0.
static int fast_answer(Sock* s, int i, int n, double now) {
  Fast* f = s->fast;
  // The ring waits for a drain (or JavaScript wrote a count no record has): JavaScript answers.
  if (*f->hit_n < 0 || *f->hit_n >= HIT_RING) return 0;
  const uint8_t* a;
  int fam = src_of(&s->src[i], &a);
  if (!fam) return 0;
  int ipi = ip_slot(f, fam, a);
  if (ipi < 0 || f->ips[ipi].fam == 0) return 0;
  IpEntry* src = &f->ips[ipi];
  int32_t cls = src->cls;
  const uint8_t* b = s->in + (size_t)i * s->in_slot;
  FastQuery fq;
  if (!fast_parse(f->seed, b, n, &fq)) return 0;
  uint32_t h = fnv(fq.hash, (uint32_t)cls);
  int qlen = fq.qend - 12;
  uint32_t home = h & (FAST_SLOTS - 1);
  FastEntry* e = NULL;
  int slot = -1;
  for (int k = 0; k < FAST_PROBE; k++) {
    uint32_t j = (home + (uint32_t)k) & (FAST_SLOTS - 1);
    FastEntry* c = &f->slots[j];
    if (same_key(c, cls, h, &fq)) {
      e = c;
      slot = (int)j;
      break;
    }
  }
  if (!e) return 0;
  if (now >= e->expires || (e->refresh != 0 && now >= e->refresh) || e->alen > fq.udp_max ||
      (size_t)e->alen > s->out_slot)
    return 0;
  if (src->rate > 0) {
    // The source's bucket, as RateLimiter.take: refilled for the time since, one token spent.
    double t = src->tokens + (now > src->last ? (now - src->last) * src->rate : 0);
    src->tokens = t < src->burst ? t : src->burst;
    if (now > src->last) src->last = now;
    if (src->tokens < 1) return 0;  // over the limit: JavaScript refuses or drops it
    src->tokens -= 1;
  }
  uint8_t* out = s->out + (size_t)i * s->out_slot;
  memcpy(out, e->mem + qlen, e->alen);
  out[0] = b[0];
  out[1] = b[1];
  out[2] = (uint8_t)((out[2] & ~0x01) | (b[2] & 0x01));  // RD from the query (RFC 1035 §4.1.1)
  memcpy(out + 12, b + 12, (size_t)(qlen - 4));          // the question as the client wrote it
  if (e->nttl > 0) {
    // Whole seconds since storage, as Math.floor (a clock set back: no ageing, as there).
    double since = (now - e->stored) / 1000;
    double age = since >= 1 ? (double)(int64_t)since : 0;
    if (age > 0) {
      const uint8_t* tp = e->mem + qlen + e->alen;
      for (int k = 0; k < e->nttl; k++) {
        uint32_t off, ttl;
        memcpy(&off, tp + (size_t)k * 8, 4);
        memcpy(&ttl, tp + (size_t)k * 8 + 4, 4);
        double t = (double)ttl - age;
        uint32_t v = t > 0 ? (uint32_t)t : 0;
        out[off] = (uint8_t)(v >> 24);
        out[off + 1] = (uint8_t)(v >> 16);
        out[off + 2] = (uint8_t)(v >> 8);
        out[off + 3] = (uint8_t)v;
      }
    }
  }
  // The record; its duration is written once the batch is answered (on_readable).
  uint8_t* r = f->hits + (size_t)(*f->hit_n) * HIT_REC;
  int32_t sl = slot;
  memcpy(r, &now, 8);
  memcpy(r + 16, &sl, 4);
  encode_addr(r + 24, &s->src[i]);
  (*f->hit_n)++;
  f->answered++;
  return e->alen;
}

// Call onBatch(n) (n slots for JavaScript; 0: only the hit records to drain). 0 when the call
// threw (reported as uncaught) or the socket closed meanwhile.
static int call_js(Sock* s, int n) {
  napi_env env = s->env;
  napi_value self, cb, argv[1], result;
  napi_get_reference_value(env, s->self, &self);
  napi_get_reference_value(env, s->callback, &cb);
  napi_create_int32(env, n, &argv[0]);
  napi_callback_scope cs;
  napi_open_callback_scope(env, self, s->async, &cs);
  napi_status st = napi_call_function(env, self, cb, 1, argv, &result);
  napi_close_callback_scope(env, cs);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
    return 0;
  }
  return !s->closing;
}

static void on_drain_timer(uv_timer_t* t) {
  Sock* s = (Sock*)t->data;
  s->fast->timer_armed = 0;
  if (s->closing || !s->polling || *s->fast->hit_n == 0) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  call_js(s, 0);
  napi_close_handle_scope(s->env, scope);
}

static void on_readable(uv_poll_t* handle, int status, int events) {
  Sock* s = (Sock*)handle->data;
  if (s->closing) return;
  if (status < 0) {
    // A pending socket error (on a connected socket: an ICMP port unreachable from the
    // upstream). libuv has stopped polling: take the error off the socket and poll again, as
    // node:dgram goes on reading after such an error (the query waits for its retransmission).
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    s->socket_errors++;
    uv_poll_start(s->poll, UV_READABLE, on_readable);
    return;
  }
  if (!(events & UV_READABLE)) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  Fast* f = s->fast && s->fast->enabled ? s->fast : NULL;
  for (int round = 0; round < MAX_ROUNDS && !s->closing; round++) {
    for (int i = 0; i < s->nslots; i++) {
      s->in_iov[i].iov_base = s->in + (size_t)i * s->in_slot;
      s->in_iov[i].iov_len = s->in_slot;
      memset(&s->in_msg[i], 0, sizeof s->in_msg[i]);
      s->in_msg[i].msg_hdr.msg_iov = &s->in_iov[i];
      s->in_msg[i].msg_hdr.msg_iovlen = 1;
      s->in_msg[i].msg_hdr.msg_name = &s->src[i];
      s->in_msg[i].msg_hdr.msg_namelen = sizeof s->src[i];
    }
    int n = recvmmsg(s->fd, s->in_msg, (unsigned)s->nslots, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    double now = f ? now_ms() : 0;
    double t0 = f ? mono_ms() : 0;
    int first_hit = f ? *f->hit_n : 0;
    int for_js = 0;
    for (int i = 0; i < n; i++) {
      int32_t len = (int32_t)s->in_msg[i].msg_len;
      if (s->in_msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
        s->truncated++;
        len = -len;  // JS treats a negative length as "too long to read whole"
      }
      s->out_len[i] = 0;
      int answered = f && len > 0 ? fast_answer(s, i, len, now) : 0;
      if (answered > 0) {
        s->out_len[i] = answered;
        s->in_len[i] = 0;  // answered here: JavaScript skips it
        continue;
      }
      s->in_len[i] = len;
      encode_addr(s->addr + (size_t)i * ADDR_SLOT, &s->src[i]);
      for_js++;
    }
    if (f && *f->hit_n > first_hit) {
      // Each answer given here took the time from the batch's read to its last answer written
      // (ms, to the µs): one clock read a batch instead of two an answer.
      double dur = (double)(int64_t)((mono_ms() - t0) * 1000 + 0.5) / 1000;
      for (int k = first_hit; k < *f->hit_n; k++) memcpy(f->hits + (size_t)k * HIT_REC + 8, &dur, 8);
    }
    s->batches++;
    s->received += n;
    // JavaScript is called for the datagrams it answers, and drains the hit records then;
    // a batch answered whole here costs no call unless the ring is filling.
    if (for_js > 0 || (f && *f->hit_n >= HIT_RING * 3 / 4)) {
      if (!call_js(s, for_js > 0 ? n : 0)) break;
    }
    if (s->out_slot > 0) send_replies(s, n);
    if (n < s->nslots) break;
  }
  if (f && !s->closing && *f->hit_n > 0 && !f->timer_armed) {
    f->timer_armed = 1;
    uv_timer_start(f->timer, on_drain_timer, DRAIN_MS, 0);
  }
  napi_close_handle_scope(env, scope);
}

// Close the socket and free it with its buffers.
static void free_fast(Fast* f) {
  if (!f) return;
  if (f->slots)
    for (int i = 0; i < FAST_SLOTS; i++) free(f->slots[i].mem);
  free(f->slots);
  free(f->ips);
  free(f->hits);
  free(f->hit_n);
  free(f);
}

static void free_sock(Sock* s) {
  close(s->fd);
  free_fast(s->fast);
  free(s->pend);
  free(s->pend_len);
  free(s->pend_addr);
  free(s->in);
  free(s->out);
  free(s->in_len);
  free(s->out_len);
  free(s->addr);
  free(s);
}

static void on_timer_closed(uv_handle_t* h) { free(h); }

static void on_poll_closed(uv_handle_t* h) {
  free_sock((Sock*)h->data);
  free(h);
}

static void detach_buffers(napi_env env, Sock* s);

static void finalize_sock(napi_env env, void* data, void* hint) {
  (void)hint;
  Sock* s = (Sock*)data;
  detach_buffers(env, s);
  // Closed explicitly before the object can be collected (close() drops the self reference),
  // so this runs for a socket still open when its environment ends (a worker thread's exit,
  // with its upstream sockets open). Node may unload the addon before the thread's loop runs
  // the close callbacks, so none is given: the socket and its buffers are freed now, and only
  // the small poll handle (which libuv holds until it has closed it) is left behind.
  if (!s->closing) {
    s->closing = 1;
    if (s->polling) uv_poll_stop(s->poll);
    uv_close((uv_handle_t*)s->poll, NULL);
    if (s->fast) uv_close((uv_handle_t*)s->fast->timer, NULL);
    free_sock(s);
  }
}

// The tag on this addon's handles (napi_errors.h: another addon's handle is not a Sock).
static const napi_type_tag SOCK_TAG = {0x6761746568756470ULL, 0x7564705f62617463ULL};

static Sock* unwrap(napi_env env, napi_value obj) {
  return (Sock*)unwrap_handle(env, obj, &SOCK_TAG);
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
  for (int i = 0; i < 10; i++) {
    if (!s->buffers[i]) continue;
    napi_value ab;
    if (napi_get_reference_value(env, s->buffers[i], &ab) == napi_ok && ab)
      napi_detach_arraybuffer(env, ab);
    napi_delete_reference(env, s->buffers[i]);
    s->buffers[i] = NULL;
  }
}

// Wrap `fd` (closed here on failure) in a Sock with `nslots` receive slots of `in_slot` bytes and
// as many reply slots of `out_slot` bytes (none when 0), its shared buffers set on `obj`.
// NULL (an exception pending) on failure.
static Sock* new_sock(napi_env env, int fd, int family, int nslots, size_t in_slot,
                      size_t out_slot, napi_value obj) {
  Sock* s = calloc(1, sizeof(Sock));
  if (!s) {
    close(fd);
    throw_errno(env, "allocating the socket", ENOMEM);
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->nslots = nslots;
  s->in_slot = in_slot;
  s->out_slot = out_slot;
  s->in = malloc((size_t)nslots * in_slot);
  s->out = out_slot > 0 ? malloc((size_t)nslots * out_slot) : NULL;
  s->in_len = calloc((size_t)nslots, sizeof(int32_t));
  s->out_len = calloc((size_t)nslots, sizeof(int32_t));
  s->addr = calloc((size_t)nslots, ADDR_SLOT);
  if (out_slot > 0) {
    s->pend = malloc((size_t)nslots * out_slot);
    s->pend_len = calloc((size_t)nslots, sizeof(int32_t));
    s->pend_addr = calloc((size_t)nslots, ADDR_SLOT);
  }
  if (!s->in || !s->in_len || !s->out_len || !s->addr ||
      (out_slot > 0 && (!s->out || !s->pend || !s->pend_len || !s->pend_addr))) {
    free_sock(s);
    throw_errno(env, "allocating the batch buffers", ENOMEM);
    return NULL;
  }
  s->poll = malloc(sizeof(uv_poll_t));
  if (!s->poll) {
    free_sock(s);
    throw_errno(env, "allocating the batch buffers", ENOMEM);
    return NULL;
  }
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, s->poll, fd);
  s->poll->data = s;
  if (!claim_handle(env, obj, &SOCK_TAG) ||
      napi_wrap(env, obj, s, finalize_sock, NULL, NULL) != napi_ok) {
    s->closing = 1;
    uv_close((uv_handle_t*)s->poll, on_poll_closed);  // frees s and closes fd
    napi_throw_type_error(env, "EINVAL", "open: the handle must be a plain object");
    return NULL;
  }
  size_t n = (size_t)nslots;
  napi_set_named_property(env, obj, "input", external_ab(env, s, 0, s->in, n * in_slot));
  napi_set_named_property(env, obj, "inputLengths", external_ab(env, s, 2, s->in_len, n * 4));
  if (out_slot > 0) {
    napi_set_named_property(env, obj, "output", external_ab(env, s, 1, s->out, n * out_slot));
    napi_set_named_property(env, obj, "outputLengths", external_ab(env, s, 3, s->out_len, n * 4));
    napi_set_named_property(env, obj, "addresses", external_ab(env, s, 4, s->addr, n * ADDR_SLOT));
    napi_set_named_property(env, obj, "pending", external_ab(env, s, 5, s->pend, n * out_slot));
    napi_set_named_property(env, obj, "pendingLengths", external_ab(env, s, 6, s->pend_len, n * 4));
    napi_set_named_property(env, obj, "pendingAddresses",
                            external_ab(env, s, 7, s->pend_addr, n * ADDR_SLOT));
  }
  return s;
}

// Parse an IP literal and port into `ss`; its length, or 0 when `host` is not an IP address.
static socklen_t parse_addr(const char* host, int32_t port, struct sockaddr_storage* ss,
                            int* family) {
  memset(ss, 0, sizeof *ss);
  if (inet_pton(AF_INET, host, &((struct sockaddr_in*)ss)->sin_addr) == 1) {
    *family = AF_INET;
    ((struct sockaddr_in*)ss)->sin_family = AF_INET;
    ((struct sockaddr_in*)ss)->sin_port = htons((uint16_t)port);
    return sizeof(struct sockaddr_in);
  }
  if (inet_pton(AF_INET6, host, &((struct sockaddr_in6*)ss)->sin6_addr) == 1) {
    *family = AF_INET6;
    ((struct sockaddr_in6*)ss)->sin6_family = AF_INET6;
    ((struct sockaddr_in6*)ss)->sin6_port = htons((uint16_t)port);
    return sizeof(struct sockaddr_in6);
  }
  return 0;
}

// A UDP socket for the address `hostv`:`portv` (an IP literal and a port), which is parsed into
// `ss`/`sl`. The descriptor, or -1 with an exception pending (`what` names the call).
static int udp_socket_for(napi_env env, napi_value hostv, napi_value portv, const char* what,
                          struct sockaddr_storage* ss, socklen_t* sl, int* family) {
  char host[64];
  size_t hl;
  int32_t port;
  if (napi_get_value_string_utf8(env, hostv, host, sizeof host, &hl) != napi_ok ||
      napi_get_value_int32(env, portv, &port) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", what);
    return -1;
  }
  *sl = parse_addr(host, port, ss, family);
  if (*sl == 0) {
    napi_throw_error(env, "EINVAL", "not an IP address");
    return -1;
  }
  int fd = socket(*family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(env, "socket", errno);
  return fd;
}

// The local port of a bound or connected socket.
static int local_port(int fd, int family) {
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, (struct sockaddr*)&bound, &bl);
  return ntohs(family == AF_INET ? ((struct sockaddr_in*)&bound)->sin_port
                                 : ((struct sockaddr_in6*)&bound)->sin6_port);
}

// open(host: string, port: number, reusePort: boolean, handle: object) -> actual port
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char* usage = "open(host, port, reusePort, handle)";
  bool reuse;
  if (argc < 4 || napi_get_value_bool(env, argv[2], &reuse) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", usage);
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  int family;
  int fd = udp_socket_for(env, argv[0], argv[1], usage, &ss, &sl, &family);
  if (fd < 0) return NULL;
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
  int actual = local_port(fd, family);
  napi_value obj = argv[3], v;
  Sock* s = new_sock(env, fd, family, BATCH, IN_SLOT, OUT_SLOT, obj);
  if (!s) return NULL;
  napi_create_int32(env, actual, &v);
  return v;
}

// connect(host: string, port: number, handle: object) -> local port. An upstream socket:
// connected to host:port from an OS-chosen port, CLIENT_BATCH receive slots, not holding the
// event loop open.
static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char* usage = "connect(host, port, handle)";
  if (argc < 3) {
    napi_throw_type_error(env, "EINVAL", usage);
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  int family;
  int fd = udp_socket_for(env, argv[0], argv[1], usage, &ss, &sl, &family);
  if (fd < 0) return NULL;
  // Room for a burst of replies (the kernel caps it at net.core.rmem_max).
  int rcvbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int r;
  do r = connect(fd, (struct sockaddr*)&ss, sl);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "connect", e);
  }
  int actual = local_port(fd, family);
  Sock* s = new_sock(env, fd, family, CLIENT_BATCH, CLIENT_IN_SLOT, 0, argv[2]);
  if (!s) return NULL;
  uv_unref((uv_handle_t*)s->poll);
  napi_value v;
  napi_create_int32(env, actual, &v);
  return v;
}

// send(handle, data: Uint8Array) -> 0, or the errno of a failed send (a connected socket's).
static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Sock* s = sock_args(env, info, 2, argv);
  napi_value res;
  if (!s || s->closing) {
    napi_create_int32(env, EBADF, &res);
    return res;
  }
  void* data;
  size_t len, off;
  napi_typedarray_type t;
  napi_value ab;
  // A Uint8Array: another typed array's length counts elements, not bytes.
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &off) != napi_ok ||
      t != napi_uint8_array) {
    napi_throw_type_error(env, "EINVAL", "send(handle, data)");
    return NULL;
  }
  ssize_t r;
  do r = send(s->fd, data, len, MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  int e = r < 0 ? errno : 0;
  if (r < 0) s->send_errors++;
  else s->sent++;
  napi_create_int32(env, e, &res);
  return res;
}

// sendQueued(handle, data: Uint8Array, lengths: Int32Array, count) -> datagrams the kernel took.
// A connected socket's queued queries: `count` datagrams back to back in `data`, their lengths
// in `lengths`, sent with as few sendmmsg calls as the kernel allows (one wakeup of the
// upstream per batch instead of one per query). A datagram the kernel refused gets -errno in
// place of its length; the others are still sent.
#define SEND_QUEUED_MAX 64
static napi_value js_send_queued(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Sock* s = sock_args(env, info, 4, argv);
  void *data, *lv;
  size_t len, llen, off;
  int32_t n;
  napi_typedarray_type t, lt;
  napi_value ab, res;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &off) != napi_ok ||
      t != napi_uint8_array ||
      napi_get_typedarray_info(env, argv[2], &lt, &llen, &lv, &ab, &off) != napi_ok ||
      lt != napi_int32_array || napi_get_value_int32(env, argv[3], &n) != napi_ok || n < 0 ||
      (size_t)n > llen) {
    napi_throw_type_error(env, "EINVAL", "sendQueued(handle, data, lengths, count)");
    return NULL;
  }
  int32_t* lens = (int32_t*)lv;
  if (!s || s->closing) {
    for (int i = 0; i < n; i++) lens[i] = -EBADF;
    napi_create_int32(env, 0, &res);
    return res;
  }
  struct iovec iov[SEND_QUEUED_MAX];
  struct mmsghdr msg[SEND_QUEUED_MAX];
  size_t at = 0;
  int sent = 0;
  for (int base = 0; base < n; base += SEND_QUEUED_MAX) {
    int k = n - base < SEND_QUEUED_MAX ? n - base : SEND_QUEUED_MAX;
    for (int i = 0; i < k; i++) {
      int32_t l = lens[base + i];
      if (l < 0 || at + (size_t)l > len) l = 0;  // malformed: sent empty, never past `data`
      iov[i].iov_base = (uint8_t*)data + at;
      iov[i].iov_len = (size_t)l;
      at += (size_t)l;
      memset(&msg[i], 0, sizeof msg[i]);
      msg[i].msg_hdr.msg_iov = &iov[i];
      msg[i].msg_hdr.msg_iovlen = 1;
    }
    int done = 0;
    while (done < k) {
      int r = sendmmsg(s->fd, msg + done, (unsigned)(k - done), MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        // The first datagram left was refused: report it, go on with the rest.
        lens[base + done] = -errno;
        s->send_errors++;
        done++;
        continue;
      }
      done += r;
      sent += r;
      s->sent += r;
    }
  }
  napi_create_int32(env, sent, &res);
  return res;
}

// start(handle, onBatch)
static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Sock* s = sock_args(env, info, 2, argv);
  napi_valuetype cbt = napi_undefined;
  if (s) napi_typeof(env, argv[1], &cbt);
  if (s && cbt != napi_function) {
    // (Kept, a number would leave no reference: the first batch would call through an unset one.)
    napi_throw_type_error(env, "EINVAL", "start(handle, onBatch): onBatch must be a function");
    return NULL;
  }
  if (!s || s->closing || s->polling) {
    napi_throw_error(env, "EINVAL", "start: closed or already started");
    return NULL;
  }
  napi_create_reference(env, argv[0], 1, &s->self);
  napi_create_reference(env, argv[1], 1, &s->callback);
  napi_value name;
  napi_create_string_utf8(env, "gatehouse.udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, argv[0], name, &s->async);
  uv_poll_start(s->poll, UV_READABLE, on_readable);
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
  napi_typedarray_type at;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &off) != napi_ok ||
      t != napi_uint8_array || napi_get_value_int32(env, argv[2], &fam) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &at, &alen, &addr, &ab, &off) != napi_ok ||
      at != napi_uint8_array || napi_get_value_int32(env, argv[4], &port) != napi_ok) {
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

// sendMany(handle, count): send pending slots 0..count-1 (data in `pending`, lengths in
// `pendingLengths`, destinations in `pendingAddresses` as the addresses slots are written).
static napi_value js_send_many(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Sock* s = sock_args(env, info, 2, argv);
  int32_t n;
  if (!s || s->closing || !s->pend) return NULL;
  if (napi_get_value_int32(env, argv[1], &n) != napi_ok || n < 0 || n > s->nslots) {
    napi_throw_type_error(env, "EINVAL", "sendMany(handle, count)");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    const uint8_t* a = s->pend_addr + (size_t)i * ADDR_SLOT;
    struct sockaddr_storage* d = &s->pend_dst[i];
    memset(d, 0, sizeof *d);
    if (a[0] == 4) {
      struct sockaddr_in* v4 = (struct sockaddr_in*)d;
      v4->sin_family = AF_INET;
      memcpy(&v4->sin_port, a + 2, 2);
      memcpy(&v4->sin_addr, a + 4, 4);
    } else if (a[0] == 6) {
      struct sockaddr_in6* v6 = (struct sockaddr_in6*)d;
      v6->sin6_family = AF_INET6;
      memcpy(&v6->sin6_port, a + 2, 2);
      memcpy(&v6->sin6_addr, a + 4, 16);
    } else {
      s->pend_len[i] = 0;  // no destination: not sent
      s->send_errors++;
    }
  }
  send_slots(s, n, s->pend, s->pend_len, s->pend_dst);
  return NULL;
}

// stats(handle) -> [batches, received, sent, sendErrors, truncated, answeredHere]
static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], arr, v;
  Sock* s = sock_args(env, info, 1, argv);
  napi_create_array_with_length(env, 6, &arr);
  double vals[6] = {0, 0, 0, 0, 0, 0};
  if (s) {
    vals[0] = s->batches;
    vals[1] = s->received;
    vals[2] = s->sent;
    vals[3] = s->send_errors;
    vals[4] = s->truncated;
    vals[5] = s->fast ? s->fast->answered : 0;
  }
  for (uint32_t i = 0; i < 6; i++) {
    napi_create_double(env, vals[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// fastEnable(handle): answer packet-cache hits here from now on (a listening socket). Sets
// `hits` (HIT_RING records of HIT_REC bytes) and `hitCount` (an int32: records written) on the
// handle. Idempotent.
static napi_value js_fast_enable(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Sock* s = sock_args(env, info, 1, argv);
  if (!s || s->closing || s->out_slot == 0) {
    napi_throw_error(env, "EINVAL", "fastEnable: not an open listening socket");
    return NULL;
  }
  if (s->fast) {
    s->fast->enabled = 1;
    return NULL;
  }
  Fast* f = calloc(1, sizeof(Fast));
  if (f) {
    f->slots = calloc(FAST_SLOTS, sizeof(FastEntry));
    f->ips = calloc(IP_SLOTS, sizeof(IpEntry));
    f->hits = malloc((size_t)HIT_RING * HIT_REC);
    f->hit_n = calloc(1, sizeof(int32_t));
    f->timer = malloc(sizeof(uv_timer_t));
  }
  if (!f || !f->slots || !f->ips || !f->hits || !f->hit_n || !f->timer) {
    if (f) free(f->timer);
    free_fast(f);
    return throw_errno(env, "allocating the packet-cache copies", ENOMEM);
  }
  {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    f->seed = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16) ^ (uint32_t)(uintptr_t)f;
  }
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  uv_timer_init(loop, f->timer);
  uv_unref((uv_handle_t*)f->timer);
  f->timer->data = s;
  f->enabled = 1;
  s->fast = f;
  napi_set_named_property(env, argv[0], "hits",
                          external_ab(env, s, 8, f->hits, (size_t)HIT_RING * HIT_REC));
  napi_set_named_property(env, argv[0], "hitCount", external_ab(env, s, 9, f->hit_n, 4));
  return NULL;
}

// fastClear(handle, enabled: boolean): forget every copy and known source; answer here again
// only when `enabled`. JavaScript drains the hit records first (they name slots).
static napi_value js_fast_clear(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Sock* s = sock_args(env, info, 2, argv);
  bool on;
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "fastClear(handle, enabled)");
    return NULL;
  }
  if (!s || !s->fast) return NULL;
  fast_forget(s->fast);
  s->fast->enabled = on && !s->closing;
  return NULL;
}

// fastStore(handle, slot, cls, answer: Uint8Array, ttls: number[], storedAt, expiresAt,
// refreshAt, tokens, ratePerMs, burst) -> the copy's slot, or -1 when not kept. Called while
// onBatch runs, for query slot `slot` of the batch, which JavaScript just answered from the
// packet-cache entry these are the fields of (dns/packet-cache.ts PacketEntry): its source
// becomes known with location class `cls` and, when `ratePerMs` > 0, a token bucket holding
// `tokens` now (JavaScript's after this query's), and the entry is copied under the query's key.
static napi_value js_fast_store(napi_env env, napi_callback_info info) {
  napi_value argv[11], res;
  Sock* s = sock_args(env, info, 11, argv);
  int32_t qi, cls;
  void* ans;
  size_t alen, off;
  napi_typedarray_type t;
  napi_value ab;
  double stored, expires, refresh, tokens, rate, burst;
  uint32_t nt;
  bool isarr;
  if (napi_get_value_int32(env, argv[1], &qi) != napi_ok ||
      napi_get_value_int32(env, argv[2], &cls) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &t, &alen, &ans, &ab, &off) != napi_ok ||
      t != napi_uint8_array || napi_is_array(env, argv[4], &isarr) != napi_ok || !isarr ||
      napi_get_array_length(env, argv[4], &nt) != napi_ok ||
      napi_get_value_double(env, argv[5], &stored) != napi_ok ||
      napi_get_value_double(env, argv[6], &expires) != napi_ok ||
      napi_get_value_double(env, argv[7], &refresh) != napi_ok ||
      napi_get_value_double(env, argv[8], &tokens) != napi_ok ||
      napi_get_value_double(env, argv[9], &rate) != napi_ok ||
      napi_get_value_double(env, argv[10], &burst) != napi_ok || !(rate >= 0) ||
      !(tokens >= 0) || !(burst >= 0)) {
    napi_throw_type_error(env, "EINVAL",
                          "fastStore(handle, slot, cls, answer, ttls, storedAt, expiresAt, "
                          "refreshAt, tokens, ratePerMs, burst)");
    return NULL;
  }
  int32_t result = -1;
  Fast* f = s && !s->closing ? s->fast : NULL;
  FastQuery fq;
  const uint8_t* a;
  int fam = 0;
  uint32_t pairs[2 * 64];
  int nttl = (int)(nt / 2);
  // Times as Date.now() gives them: a NaN expiry would never expire, and the age of a copy
  // stored at ±1e300 does not fit the integer it is taken as.
  if (!f || !f->enabled || qi < 0 || qi >= s->nslots || cls < 0 || cls > 0xffff ||
      s->in_len[qi] <= 0 || (nt & 1) || nttl > 64 || !(stored > -8.64e15 && stored < 8.64e15) ||
      expires != expires || refresh != refresh)
    goto done;
  // The TTL pairs first: reading an element may run JavaScript (a getter), which may close the
  // socket or free the answer's memory (its buffer transferred or resized), so the answer's
  // bytes are looked up only after the last element was read.
  for (int k = 0; k < nttl; k++) {
    napi_value v;
    double o, ttl;
    if (napi_get_element(env, argv[4], (uint32_t)(2 * k), &v) != napi_ok ||
        napi_get_value_double(env, v, &o) != napi_ok ||
        napi_get_element(env, argv[4], (uint32_t)(2 * k + 1), &v) != napi_ok ||
        napi_get_value_double(env, v, &ttl) != napi_ok)
      goto done;
    // TTLs as 32-bit fields hold them; offsets are checked against the answer below.
    if (!(o >= 0 && o <= 65535) || !(ttl >= 0 && ttl <= 4294967295.0)) goto done;
    pairs[2 * k] = (uint32_t)o;
    pairs[2 * k + 1] = (uint32_t)ttl;
  }
  if (s->closing || !f->enabled ||
      napi_get_typedarray_info(env, argv[3], &t, &alen, &ans, &ab, &off) != napi_ok ||
      alen > s->out_slot || alen > OUR_UDP_SIZE)
    goto done;
  if (!fast_parse(f->seed, s->in + (size_t)qi * s->in_slot, s->in_len[qi], &fq) ||
      alen < (size_t)fq.qend || !(fam = src_of(&s->src[qi], &a)))
    goto done;
  // Offsets inside the answer, past the question.
  for (int k = 0; k < nttl; k++)
    if (pairs[2 * k] < (uint32_t)fq.qend || (size_t)pairs[2 * k] + 4 > alen) goto done;
  // The source: known from now on with this class (a full table is forgotten and learnt anew).
  if (f->nips >= IP_SLOTS * 3 / 4) {
    memset(f->ips, 0, sizeof(IpEntry) * IP_SLOTS);
    f->nips = 0;
  }
  int ipi = ip_slot(f, fam, a);
  if (ipi < 0) goto done;  // (not reached: the table is never fuller than 3/4)
  IpEntry* ip = &f->ips[ipi];
  if (ip->fam == 0) {
    ip->fam = (uint8_t)fam;
    memcpy(ip->addr, a, fam == 4 ? 4 : 16);
    f->nips++;
  }
  ip->cls = cls;
  ip->rate = rate;
  ip->burst = burst;
  ip->tokens = tokens < burst ? tokens : burst;
  ip->last = now_ms();
  // The copy: in the key's probe window, over its own older copy, else an empty slot, else the
  // one that expires first.
  int qlen = fq.qend - 12;
  uint32_t h = fnv(fq.hash, (uint32_t)cls);
  uint32_t home = h & (FAST_SLOTS - 1);
  int pick = -1;
  for (int k = 0; k < FAST_PROBE; k++) {
    uint32_t j = (home + (uint32_t)k) & (FAST_SLOTS - 1);
    FastEntry* c = &f->slots[j];
    if (same_key(c, cls, h, &fq)) {
      pick = (int)j;
      break;
    }
    if (c->cls == 0) {
      if (pick < 0 || f->slots[pick].cls != 0) pick = (int)j;
    } else if (pick < 0 || (f->slots[pick].cls != 0 && c->expires < f->slots[pick].expires)) {
      pick = (int)j;
    }
  }
  FastEntry* e = &f->slots[pick];
  size_t size = (size_t)qlen + alen + (size_t)nttl * 8;
  size_t old = e->mem ? (size_t)e->qlen + e->alen + (size_t)e->nttl * 8 : 0;
  if (f->bytes - old + size > FAST_BYTES) goto done;
  uint8_t* mem = malloc(size);
  if (!mem) goto done;
  free(e->mem);
  f->bytes = f->bytes - old + size;
  memcpy(mem, fq.q, (size_t)qlen);
  memcpy(mem + qlen, ans, alen);
  memcpy(mem + qlen + alen, pairs, (size_t)nttl * 8);
  e->mem = mem;
  e->stored = stored;
  e->expires = expires;
  e->refresh = refresh;
  e->hash = h;
  e->qlen = (uint16_t)qlen;
  e->alen = (uint16_t)alen;
  e->nttl = (uint16_t)nttl;
  e->cls = cls + 1;
  e->edns = (uint8_t)fq.edns;
  e->adcd = (uint8_t)fq.adcd;
  result = pick;
done:
  napi_create_int32(env, result, &res);
  return res;
}

// close(handle): stop reading, close the socket; the buffers must not be used afterwards.
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Sock* s = sock_args(env, info, 1, argv);
  if (!s || s->closing) return NULL;
  s->closing = 1;
  if (s->polling) {
    uv_poll_stop(s->poll);
    napi_delete_reference(env, s->callback);
    napi_delete_reference(env, s->self);
    napi_async_destroy(env, s->async);
    s->polling = 0;
  }
  detach_buffers(env, s);
  napi_remove_wrap(env, argv[0], NULL);
  if (s->fast) uv_close((uv_handle_t*)s->fast->timer, on_timer_closed);
  uv_close((uv_handle_t*)s->poll, on_poll_closed);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"sendTo", NULL, js_send_to, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"sendMany", NULL, js_send_many, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"sendQueued", NULL, js_send_queued, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"fastEnable", NULL, js_fast_enable, NULL, NULL, NULL, napi_default, NULL},
      {"fastStore", NULL, js_fast_store, NULL, NULL, NULL, napi_default, NULL},
      {"fastClear", NULL, js_fast_clear, NULL, NULL, NULL, napi_default, NULL},
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
  napi_create_int32(env, CLIENT_BATCH, &v);
  napi_set_named_property(env, exports, "CLIENT_BATCH", v);
  napi_create_int32(env, CLIENT_IN_SLOT, &v);
  napi_set_named_property(env, exports, "CLIENT_IN_SLOT", v);
  napi_create_int32(env, FAST_SLOTS, &v);
  napi_set_named_property(env, exports, "FAST_SLOTS", v);
  napi_create_int32(env, HIT_REC, &v);
  napi_set_named_property(env, exports, "HIT_REC", v);
  return exports;
}

NAPI_MODULE(udp_batch, init)

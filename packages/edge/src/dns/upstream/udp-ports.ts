// Upstream queries over UDP on a few shared sockets per upstream instead of a socket per query.
// A socket per query cost more than the rest of a cache miss together (create, bind, a lookup of
// the address on every send, close: docs/benchmarks.md, "The DNS cache-miss path"). Here each
// upstream has PORTS sockets (more during a burst: MAX_IN_FLIGHT), each `connect`ed to the upstream (the kernel delivers only
// the upstream's datagrams, so a reply from any other address or port never reaches us) and
// bound to its own OS-chosen random source port; a query goes out on one picked at random, and a
// reply is matched to its query by ID, then checked as before (QR, question, 0x20 case; RFC 5452
// §4.3). Source ports stay unpredictable (RFC 5452 §9.2): a socket is retired after
// MAX_USES queries or MAX_AGE_MS, whichever comes first, and closed when its last query settles;
// every socket of an upstream idle for IDLE_MS is closed. Two queries in flight on one socket
// never share an ID (another socket is picked, or a new one opened).
//
// Retransmissions (RFC 1035 §4.2.1, §7.2: 400 ms, then doubling within the upstream's timeout)
// and timeouts run on one timer wheel for the whole process (TICK_MS slots) instead of two
// timers per query.
//
// Where the batch socket addon is built (native/udp_batch.c, as the UDP listener uses), a socket
// is the addon's: connected at once, a query sent with one send(2) call, replies read with
// recvmmsg(2) into fixed slots (one JavaScript call per batch of replies, a reply copied only
// when it answers a query) instead of node:dgram's 64 KiB buffer, Buffer and event per
// datagram. Otherwise node:dgram.

import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { getSystemErrorName } from "node:util";
import { nth } from "../../indexed.ts";
import { at, u8 } from "../../net/bytes.ts";
import { dnsMetrics, upstreamDatagramDrops } from "../../telemetry/metrics.ts";
import { type BatchAddon, type BatchHandle, batchAddon } from "../server/udp-batch.ts";
import {
  caseError,
  caseOnlyMismatch,
  type ExpectedQuestion,
  matchesQuestion,
  sameQuestion,
  type UpstreamTarget,
  upstreamError,
} from "./transports.ts";

/** Sockets per upstream. */
export const PORTS = 8;
/**
 * Queries in flight on one socket at most; past it (a burst) another socket is opened. Bounds
 * what its replies need of the socket's receive buffer (about 200 KB by default on Linux, a
 * few hundred small datagrams on loopback), so a burst loses nothing to a full buffer.
 */
export const MAX_IN_FLIGHT = 32;
/** Queries a socket carries before it is retired. */
export const MAX_USES = 256;
/** Age after which a socket takes no new queries. */
const MAX_AGE_MS = 5_000;
/** An upstream's sockets are closed after this long without queries. */
const IDLE_MS = 5_000;
/** First UDP retransmission. */
const RETRANSMIT_MS = 400;

interface Call {
  readonly port: Port;
  readonly id: number;
  readonly query: Uint8Array;
  readonly q: ExpectedQuestion;
  readonly t0: number;
  readonly timeoutAt: number;
  /** Next retransmission (ms timestamp), Infinity when none is left before the timeout. */
  nextSend: number;
  interval: number;
  /** When the wheel next looks at it. */
  due: number;
  /** The wheel slot holding it and its index there; -1 while in no slot. */
  slot: number;
  pos: number;
  settled: boolean;
  readonly resolve: (msg: Buffer) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** errno values of a send the kernel did not take at once: the datagram is lost, not failed. */
const EAGAIN = 11;
const ENOBUFS = 105;

/** Queued queries copied back to back for sendQueued (a query is at most a few hundred bytes). */
const SEND_SCRATCH = Buffer.alloc(32 * 1024);
const SEND_LENGTHS = new Int32Array(64);
/** Sockets with queries queued in this turn. */
let toFlush: Port[] = [];

/** `p` has its first query queued: send the turn's queries once this task's code is done. */
function queueSend(p: Port): void {
  if (toFlush.length === 0) queueMicrotask(flushQueued);
  toFlush.push(p);
}

function flushQueued(): void {
  const ports = toFlush;
  toFlush = [];
  for (const p of ports) p.flush();
}

class Port {
  /** node:dgram's socket, when the addon is not built (or could not open one). */
  private readonly sock: Socket | undefined;
  /** The batch addon and its connected socket's handle. */
  private readonly lib: BatchAddon | undefined;
  private readonly handle: BatchHandle | undefined;
  readonly calls = new Map<number, Call>();
  readonly born = Date.now();
  uses = 0;
  retired = false;
  closed = false;
  connected = false;
  /** Queries sent before the socket finished connecting. */
  private waiting: Call[] = [];
  /** Queries to send at the end of this turn (batch addon): flush(). */
  private queue: Call[] = [];
  readonly ports: UdpPorts;

  constructor(ports: UdpPorts) {
    this.ports = ports;
    const t = ports.target;
    const lib = batchAddon();
    if (lib !== undefined) {
      const h = {} as BatchHandle;
      try {
        lib.connect(t.host, t.port, h);
      } catch {
        // No socket (out of descriptors, no route): node:dgram below reports why per query.
      }
      if (h.input !== undefined) {
        this.lib = lib;
        this.handle = h;
        this.sock = undefined;
        this.connected = true;
        const input = Buffer.from(h.input);
        const lens = new Int32Array(h.inputLengths);
        const slot = lib.CLIENT_IN_SLOT;
        lib.start(h, (count) => {
          // A reply may settle the last query of a retired socket, which closes it and detaches
          // its buffers: the rest of the batch is for no query of ours then.
          for (let i = 0; i < count && !this.closed; i++) {
            const len = at(lens, i);
            // Negative: longer than a slot, read cut short (no answer to a query of ours is).
            if (len < 0) upstreamDatagramDrops().inc({ reason: "oversized" });
            else this.receiveSlot(input, i * slot, len);
          }
        });
        return;
      }
    }
    this.lib = undefined;
    this.handle = undefined;
    const sock = createSocket({
      type: isIPv6(t.host) ? "udp6" : "udp4",
      // Room for a burst of replies (the kernel caps it at net.core.rmem_max).
      recvBufferSize: 1 << 20,
    });
    this.sock = sock;
    sock.unref();
    sock.on("message", (msg: Buffer) => this.receive(msg));
    sock.on("error", (e: NodeJS.ErrnoException) => {
      // An ICMP port unreachable (nothing listening upstream) reported on a connected socket:
      // as with an unconnected one, the query waits for its retransmissions and timeout.
      if (e.code === "ECONNREFUSED") return;
      this.retire();
      for (const call of [...this.calls.values()])
        settle(call, upstreamError("upstream_network", `${t.address}: ${e.message}`, { cause: e }));
    });
    sock.connect(t.port, t.host, () => {
      this.connected = true;
      const waiting = this.waiting;
      this.waiting = [];
      for (const call of waiting) if (!call.settled) this.send(call);
    });
  }

  /**
   * A datagram of the addon's: `len` bytes at `at` of its receive slots, which the next batch is
   * read into. Only a datagram whose ID is of a query in flight is copied (from Node's buffer
   * pool, without a view of the slot first) and looked at.
   */
  private receiveSlot(input: Buffer, at: number, len: number): void {
    if (len < 12) return;
    if (!this.calls.has((u8(input, at) << 8) | u8(input, at + 1))) return;
    const msg = Buffer.allocUnsafe(len);
    input.copy(msg, 0, at, at + len);
    this.receive(msg);
  }

  /** A datagram from the upstream: the reply of the query with its ID when it answers that question. */
  private receive(msg: Buffer): void {
    if (msg.length < 12) return;
    const call = this.calls.get(msg.readUInt16BE(0));
    if (call === undefined) return;
    if (sameQuestion(msg, call.query, call.q) || matchesQuestion(msg, call.q)) settle(call, msg);
    else if (caseOnlyMismatch(msg, call.q)) settle(call, caseError(this.ports.target));
  }

  /** Whether it takes a new query with ID `id` now. */
  takes(id: number, now: number): boolean {
    return (
      !this.retired &&
      this.calls.size < MAX_IN_FLIGHT &&
      !this.calls.has(id) &&
      now - this.born < MAX_AGE_MS
    );
  }

  add(call: Call): void {
    this.calls.set(call.id, call);
    if (++this.uses >= MAX_USES) this.retire();
  }

  send(call: Call): void {
    if (this.closed) return;
    if (this.handle !== undefined) {
      // Sent with the others queued in this turn (sendQueued below).
      if (this.queue.length === 0) queueSend(this);
      this.queue.push(call);
      return;
    }
    if (this.sock === undefined) return;
    if (!this.connected) {
      this.waiting.push(call);
      return;
    }
    this.sock.send(call.query, (e) => {
      if (e)
        settle(
          call,
          upstreamError("upstream_network", `${this.ports.target.address}: ${e.message}`, {
            cause: e,
          }),
        );
    });
  }

  /**
   * Send the queries queued in this turn with one sendmmsg (the upstream woken once for all of
   * them, not once per query: on a busy machine each wakeup was a context switch in the send).
   */
  flush(): void {
    const queue = this.queue;
    this.queue = [];
    if (this.closed) return;
    const batch: Call[] = [];
    let bytes = 0;
    for (const call of queue) {
      if (call.settled) continue;
      const q = call.query;
      if (bytes + q.length > SEND_SCRATCH.length || batch.length === SEND_LENGTHS.length) {
        this.sendBatch(batch, bytes);
        batch.length = 0;
        bytes = 0;
      }
      SEND_SCRATCH.set(q, bytes);
      SEND_LENGTHS[batch.length] = q.length;
      batch.push(call);
      bytes += q.length;
    }
    if (batch.length > 0) this.sendBatch(batch, bytes);
  }

  /** `batch`, copied to the scratch buffer (`bytes` long): send it. */
  private sendBatch(batch: readonly Call[], bytes: number): void {
    const lib = this.lib;
    const handle = this.handle;
    if (lib === undefined || handle === undefined) return;
    const n = batch.length;
    if (lib.sendQueued(handle, SEND_SCRATCH.subarray(0, bytes), SEND_LENGTHS, n) === n) return;
    // Some were refused (-errno in place of the length).
    for (let i = 0; i < n; i++) {
      const e = -at(SEND_LENGTHS, i);
      if (e <= 0) continue;
      if (e === EAGAIN || e === ENOBUFS) upstreamDatagramDrops().inc({ reason: "send_full" });
      else
        settle(
          nth(batch, i),
          upstreamError(
            "upstream_network",
            `${this.ports.target.address}: send ${getSystemErrorName(-e)}`,
          ),
        );
    }
  }

  /** Take no new queries; close once the last one settles. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.ports.dropPort(this);
    if (this.calls.size === 0) this.close();
  }

  /** A query on it settled. */
  release(id: number): void {
    this.calls.delete(id);
    if (this.retired && this.calls.size === 0) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handle !== undefined) {
      this.lib?.close(this.handle);
      return;
    }
    try {
      this.sock?.close();
    } catch {
      // Already closed after an error.
    }
  }
}

/** The UDP sockets of one upstream. */
export class UdpPorts {
  readonly target: UpstreamTarget;
  private readonly ports: Port[] = [];
  lastUsed = 0;

  constructor(target: UpstreamTarget) {
    this.target = target;
  }

  /** Sockets open now (in use or retired and waiting for their queries), for tests. */
  get open(): number {
    return this.ports.length;
  }

  /** One exchange: `query` (whose ID is `q.id`) sent, the matching reply or an error. */
  exchange(query: Uint8Array, q: ExpectedQuestion, signal?: AbortSignal): Promise<Buffer> {
    if (signal?.aborted) return Promise.reject(upstreamError("upstream_timeout", "aborted"));
    const now = Date.now();
    this.lastUsed = now;
    watchIdle(this);
    const port = this.pick(q.id, now);
    return new Promise<Buffer>((resolve, reject) => {
      const t = this.target;
      const call: Call = {
        port,
        id: q.id,
        query,
        q,
        t0: now,
        timeoutAt: now + t.timeoutMs,
        nextSend: RETRANSMIT_MS < t.timeoutMs ? now + RETRANSMIT_MS : Number.POSITIVE_INFINITY,
        interval: RETRANSMIT_MS,
        due: 0,
        slot: -1,
        pos: 0,
        settled: false,
        resolve,
        reject,
        signal,
        onAbort: undefined,
      };
      call.due = Math.min(call.nextSend, call.timeoutAt);
      started();
      port.add(call);
      if (signal) {
        call.onAbort = () => settle(call, upstreamError("upstream_timeout", "aborted"));
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
      port.send(call);
      schedule(call);
    });
  }

  /**
   * A socket for a query with ID `id`: a random one of the pool, topped up to PORTS; one more
   * when every one is at MAX_IN_FLIGHT or has that ID in flight.
   */
  private pick(id: number, now: number): Port {
    const ports = this.ports;
    // Retire the ones too old to take queries.
    for (let i = ports.length - 1; i >= 0; i--) {
      const p = nth(ports, i);
      if (now - p.born >= MAX_AGE_MS) p.retire();
    }
    if (ports.length < PORTS) {
      const p = new Port(this);
      ports.push(p);
      return p;
    }
    const start = (Math.random() * ports.length) | 0;
    for (let k = 0; k < ports.length; k++) {
      const p = nth(ports, (start + k) % ports.length);
      if (p.takes(id, now)) return p;
    }
    const p = new Port(this);
    ports.push(p);
    return p;
  }

  /** Forget a retired socket (it closes once its queries settle). */
  dropPort(p: Port): void {
    const i = this.ports.indexOf(p);
    if (i !== -1) this.ports.splice(i, 1);
  }

  /** Close every socket (idle, or the upstream is gone). */
  closeAll(): void {
    for (const p of [...this.ports]) p.retire();
  }
}

const byTarget = new WeakMap<UpstreamTarget, UdpPorts>();

/** The UDP sockets of `t`. */
export function udpPortsOf(t: UpstreamTarget): UdpPorts {
  let p = byTarget.get(t);
  if (p === undefined) {
    p = new UdpPorts(t);
    byTarget.set(t, p);
  }
  return p;
}

/** Settle `call` once: with the answer, or with the error that ended it. */
function settle(call: Call, outcome: Error | Buffer): void {
  if (call.settled) return;
  call.settled = true;
  // Nothing in flight: the wheel's timer no longer holds the process open.
  if (--live === 0) wheelTimer?.unref();
  if (call.onAbort) call.signal?.removeEventListener("abort", call.onAbort);
  unschedule(call);
  call.port.release(call.id);
  if (outcome instanceof Error) call.reject(outcome);
  else call.resolve(outcome);
}

// The timer wheel: slot `tick % SLOTS` holds the calls due in that TICK_MS tick (and those due a
// whole turn or more later, which are put back when their slot comes round). A call leaves its
// slot when it settles (swapped with the slot's last call): a settled call kept until its slot
// came round, 400 ms on, held its query, reply and promise past a few young-generation
// collections at a few thousand misses a second, which then copied them into the old generation.
const TICK_MS = 20;
const SLOTS = 128;
const wheel: Call[][] = Array.from({ length: SLOTS }, () => []);
let queued = 0;
/** Calls not yet settled (the wheel also holds settled ones until their slot comes round). */
let live = 0;
let processed = 0;
let wheelTimer: ReturnType<typeof setInterval> | undefined;

function schedule(call: Call): void {
  const tick = Math.max(Math.ceil(call.due / TICK_MS), processed + 1);
  const i = tick % SLOTS;
  const slot = nth(wheel, i);
  call.slot = i;
  call.pos = slot.length;
  slot.push(call);
  queued++;
  if (wheelTimer === undefined) {
    processed = Math.floor(Date.now() / TICK_MS) - 1;
    wheelTimer = setInterval(turn, TICK_MS);
    if (live === 0) wheelTimer.unref();
  }
}

/** Calls the timer wheel holds now (for tests: a settled call is in no slot). */
export function callsInWheel(): number {
  return queued;
}

/** Take `call` out of its wheel slot (when in one). */
function unschedule(call: Call): void {
  if (call.slot < 0) return;
  const slot = nth(wheel, call.slot);
  const last = slot.pop();
  if (last !== undefined && last !== call) {
    slot[call.pos] = last;
    last.pos = call.pos;
  }
  call.slot = -1;
  queued--;
}

/** A new call is in flight: it keeps the process alive, as its own socket used to. */
function started(): void {
  if (++live === 1) wheelTimer?.ref();
}

function turn(): void {
  const now = Date.now();
  const last = Math.floor(now / TICK_MS);
  // After a long stall, one pass over every slot covers every tick missed.
  const first = Math.max(processed + 1, last - SLOTS + 1);
  processed = last;
  for (let tick = first; tick <= last; tick++) {
    const i = tick % SLOTS;
    const slot = nth(wheel, i);
    if (slot.length === 0) continue;
    wheel[i] = [];
    queued -= slot.length;
    // Out of the wheel: settling one of them now (below, or another's failure closing its
    // socket) leaves the slot's new array alone.
    for (const call of slot) call.slot = -1;
    for (const call of slot) {
      if (call.settled) continue;
      if (call.due > now) schedule(call);
      else fire(call, now);
    }
  }
  if (queued === 0) {
    clearInterval(wheelTimer);
    wheelTimer = undefined;
  }
}

function fire(call: Call, now: number): void {
  if (now >= call.timeoutAt) {
    const t = call.port.ports.target;
    settle(call, upstreamError("upstream_timeout", `${t.address}: no answer in ${t.timeoutMs} ms`));
    return;
  }
  if (now >= call.nextSend) {
    // The same bytes (same ID) each time: a late answer to any of them is the answer.
    dnsMetrics().upstreamFallbacks.inc({ kind: "retransmit" });
    call.port.send(call);
    call.interval *= 2;
    const next = now + call.interval;
    call.nextSend = next < call.timeoutAt ? next : Number.POSITIVE_INFINITY;
  }
  call.due = Math.min(call.nextSend, call.timeoutAt);
  schedule(call);
}

// Idle upstreams' sockets are closed by one unreferenced sweep, not a timer per query.
const watched = new Set<UdpPorts>();
let idleTimer: ReturnType<typeof setInterval> | undefined;

function watchIdle(p: UdpPorts): void {
  if (watched.has(p)) return;
  watched.add(p);
  if (idleTimer === undefined) {
    idleTimer = setInterval(sweepIdle, IDLE_MS);
    idleTimer.unref();
  }
}

function sweepIdle(): void {
  const now = Date.now();
  for (const p of watched) {
    if (now - p.lastUsed < IDLE_MS) continue;
    p.closeAll();
    watched.delete(p);
  }
  if (watched.size === 0) {
    clearInterval(idleTimer);
    idleTimer = undefined;
  }
}

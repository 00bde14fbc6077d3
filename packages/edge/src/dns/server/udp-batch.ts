// Do53 over UDP through the batch socket of `native/udp_batch.c`: the kernel hands over up to
// 64 queued datagrams at once (recvmmsg), one JavaScript call answers every one the fast path
// can answer straight into the shared reply slots, and one sendmmsg sends them. Misses copy
// their query and source and go through the full pipeline; their answers are queued in the
// addon's pending slots and sent together with one sendmmsg at the end of the event loop's
// turn (setImmediate), or as soon as every pending slot is taken.
// Repeats the fast path answered are then answered in C (the addon's copies of packet-cache
// entries, `fastStore`): after JavaScript answers a query from an entry, the entry is copied
// under that query's key and the source learnt with its location's class and, with a per-source
// rate limit, a copy of its token bucket; the addon answers the next repeats itself while that
// bucket holds tokens and leaves hit records, which `drain` logs and counts through the fast
// path's own recording (every answer is in the query log and the metrics as before) and charges
// to the source's rate limit, so JavaScript's bucket, which refuses or drops the queries once
// the addon's is empty, has spent the same. A runtime swap drains and forgets every copy.
// When the addon is not built (no C compiler at install time) `udp-server.ts` uses node:dgram.

import { formatIpv6 } from "@gatehouse/rules";
import { nth } from "../../indexed.ts";
import { loadNativeAddon } from "../../native-addon.ts";
import { at, u8 } from "../../net/bytes.ts";
import { holdsUnpublished } from "../../telemetry/events.ts";
import { trackUdpBatch, type UdpBatchStats } from "../../telemetry/metrics.ts";
import type { DnsService } from "../dns-service.ts";
import type { PacketEntry } from "../packet-cache.ts";
import { InFlight } from "./in-flight.ts";

/**
 * The addon's handle: shared buffers filled by `open` (an upstream socket's by `connect`: its
 * input and inputLengths only).
 */
export interface BatchHandle {
  input: ArrayBuffer;
  output: ArrayBuffer;
  inputLengths: ArrayBuffer;
  outputLengths: ArrayBuffer;
  addresses: ArrayBuffer;
  /** Answers queued for sendMany, their lengths and destinations (as in `addresses`). */
  pending: ArrayBuffer;
  pendingLengths: ArrayBuffer;
  pendingAddresses: ArrayBuffer;
  /** Set by fastEnable: the hit records (HIT_REC bytes each) and their count (an int32). */
  hits: ArrayBuffer;
  hitCount: ArrayBuffer;
}

export interface BatchAddon {
  readonly BATCH: number;
  readonly IN_SLOT: number;
  readonly OUT_SLOT: number;
  readonly ADDR_SLOT: number;
  /** Receive slots of an upstream socket, and their size. */
  readonly CLIENT_BATCH: number;
  readonly CLIENT_IN_SLOT: number;
  /** Slots of the packet-cache copies, and the size of a hit record. */
  readonly FAST_SLOTS: number;
  readonly HIT_REC: number;
  open(host: string, port: number, reusePort: boolean, handle: object): number;
  start(handle: BatchHandle, onBatch: (count: number) => void): void;
  sendTo(
    handle: BatchHandle,
    data: Uint8Array,
    family: number,
    addr: Uint8Array,
    port: number,
  ): boolean;
  /** An upstream socket connected to host:port; its local port. Not holding the loop open. */
  connect(host: string, port: number, handle: object): number;
  /** Send on a connected socket: 0, or the errno of the failure. */
  send(handle: BatchHandle, data: Uint8Array): number;
  /**
   * Send `count` datagrams (back to back in `data`, their lengths in `lengths`) on a connected
   * socket with sendmmsg; a datagram refused gets -errno in place of its length. The number
   * the kernel took.
   */
  sendQueued(handle: BatchHandle, data: Uint8Array, lengths: Int32Array, count: number): number;
  /** Send pending slots 0..count-1 with sendmmsg. */
  sendMany(handle: BatchHandle, count: number): void;
  /** [batches, received, sent, sendErrors, truncated, answered from the copies]. */
  stats(handle: BatchHandle): number[];
  /** Answer packet-cache hits in C from now on; sets `hits` and `hitCount` on the handle. */
  fastEnable(handle: BatchHandle): void;
  /**
   * Copy the entry that just answered batch slot `slot` under that query's key, its source
   * learnt with location class `cls`: the copy's slot, or -1 when not kept.
   */
  fastStore(
    handle: BatchHandle,
    slot: number,
    cls: number,
    answer: Uint8Array,
    ttls: readonly number[],
    storedAt: number,
    expiresAt: number,
    refreshAt: number,
    tokens: number,
    ratePerMs: number,
    burst: number,
  ): number;
  /** Forget every copy and source; answer in C again only when `enabled`. */
  fastClear(handle: BatchHandle, enabled: boolean): void;
  close(handle: BatchHandle): void;
}

let addon: BatchAddon | null | undefined;

/** The batch socket addon, or undefined when it is not built or turned off. */
export function batchAddon(): BatchAddon | undefined {
  if (addon === undefined) {
    addon = null;
    if (process.env.GATEHOUSE_UDP_BATCH !== "0" && process.platform === "linux") {
      addon = loadNativeAddon<BatchAddon>("udp_batch", "node:dgram serves UDP") ?? null;
    }
  }
  return addon ?? undefined;
}

/** Distinct IPv4 source strings kept; past it the cache starts again (bounded memory). */
const MAX_CACHED_IPS = 65_536;

export interface BatchUdpListener {
  readonly host: string;
  readonly port: number;
  readonly mode: "batch";
  /**
   * Datagrams read, answers sent, send errors, oversized queries dropped and repeats answered
   * in C, so far.
   */
  stats(): UdpBatchStats;
  /** Queries answered from the C copies of packet-cache entries, so far. */
  answeredInC(): number;
  close(graceMs?: number): Promise<void>;
}

export function listenUdpBatch(
  lib: BatchAddon,
  service: DnsService,
  host: string,
  port: number,
  reusePort: boolean,
): BatchUdpListener {
  const h = {} as BatchHandle;
  const bound = lib.open(host, port, reusePort, h);
  const N = lib.BATCH;
  const IN = lib.IN_SLOT;
  const OUT = lib.OUT_SLOT;
  const AS = lib.ADDR_SLOT;
  const inLens = new Int32Array(h.inputLengths);
  const outLens = new Int32Array(h.outputLengths);
  const addrs = new Uint8Array(h.addresses);
  const addrView = new DataView(h.addresses);
  const inputBytes = Buffer.from(h.input);
  const addrBytes = Buffer.from(h.addresses);
  // One view per slot, made once: a query is read and its answer written in place.
  const inSlots: Buffer[] = [];
  const outSlots: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    inSlots.push(Buffer.from(h.input, i * IN, IN));
    outSlots.push(Buffer.from(h.output, i * OUT, OUT));
  }
  const ips = new Map<number, string>();
  /** The text of the address slot at `o` of `addrs` (as `addresses` is written). */
  const ipAt = (addrs: Uint8Array, addrView: DataView, o: number): string => {
    if (addrs[o] === 4) {
      const v = addrView.getUint32(o + 4);
      let s = ips.get(v);
      if (s === undefined) {
        if (ips.size >= MAX_CACHED_IPS) ips.clear();
        s = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
        ips.set(v, s);
      }
      return s;
    }
    const w0 = addrView.getUint32(o + 4);
    const w1 = addrView.getUint32(o + 8);
    const w2 = addrView.getUint32(o + 12);
    const w3 = addrView.getUint32(o + 16);
    // An IPv4 client of a dual-stack socket, written as node:dgram writes it.
    if (w0 === 0 && w1 === 0 && w2 === 0xffff)
      return `::ffff:${w3 >>> 24}.${(w3 >>> 16) & 255}.${(w3 >>> 8) & 255}.${w3 & 255}`;
    return formatIpv6([w0, w1, w2, w3]);
  };
  const ipOf = (i: number): string => ipAt(addrs, addrView, i * AS);

  const inFlight = new InFlight();

  // Answers of the full pipeline, queued for one sendmmsg per turn of the event loop.
  const pending = Buffer.from(h.pending);
  const pendingLens = new Int32Array(h.pendingLengths);
  const pendingAddrs = new Uint8Array(h.pendingAddresses);
  let queued = 0;
  let flushing = false;
  const flush = () => {
    flushing = false;
    // (After close, nothing is queued: close sends what was, and nothing queues after it.)
    if (queued === 0) return;
    lib.sendMany(h, queued);
    queued = 0;
  };
  /** Queue `out` for the client whose address slot (ADDR_SLOT bytes, as read) is `addr`. */
  const reply = (out: Buffer, addr: Uint8Array) => {
    if (out.length > OUT) {
      // Longer than a slot (a TCP-sized answer cannot be: UDP answers fit the requester's
      // size, at most OUT_SLOT): sent on its own.
      const family = u8(addr, 0);
      const port = (u8(addr, 2) << 8) | u8(addr, 3);
      lib.sendTo(h, out, family, addr.subarray(4, family === 4 ? 8 : 20), port);
      return;
    }
    const k = queued++;
    out.copy(pending, k * OUT);
    pendingLens[k] = out.length;
    pendingAddrs.set(addr, k * AS);
    if (queued === N) flush();
    else if (!flushing) {
      flushing = true;
      setImmediate(flush);
    }
  };

  const slow = (i: number, len: number, ip: string) => {
    if (!inFlight.enter()) return;
    const o = i * AS;
    const clientPort = addrView.getUint16(o + 2);
    // The slots are reused by the next batch: keep copies (from Node's buffer pool: no view of
    // the slot, no ArrayBuffer of its own for the address).
    const query = Buffer.allocUnsafe(len);
    inputBytes.copy(query, 0, i * IN, i * IN + len);
    const addr = Buffer.allocUnsafe(AS);
    addrBytes.copy(addr, 0, o, o + AS);
    service.handle(query, { transport: "udp", ip, port: clientPort }).then((out) => {
      // A reply that comes after close() gave up waiting has no socket to go out on.
      if (out && !inFlight.released) reply(out, addr);
      inFlight.leave();
    }, inFlight.leave);
  };

  // The C copies: entries by the slot the addon keeps their copy in, and the hit records.
  lib.fastEnable(h);
  const copies: (PacketEntry | undefined)[] = new Array(lib.FAST_SLOTS).fill(undefined);
  const REC = lib.HIT_REC;
  const hitCount = new Int32Array(h.hitCount);
  const hitBytes = new Uint8Array(h.hits);
  const hitView = new DataView(h.hits);
  /** Log and count every answer the addon gave since the last drain. */
  const drain = () => {
    const n = at(hitCount, 0);
    if (n === 0) return;
    // Consecutive records mostly come from one source: its text is made once.
    let ip = "";
    let a0 = -1;
    let a1 = -1;
    let a2 = -1;
    let a3 = -1;
    let a4 = -1;
    // Answers to one source in a row, charged to its rate limit together.
    let run = 0;
    let runTs = 0;
    for (let k = 0; k < n; k++) {
      const o = k * REC;
      const e = copies[hitView.getInt32(o + 16, true)];
      // The family and the address (not the port: a client's sockets share its text).
      const w0 = u8(hitBytes, o + 24);
      const w1 = hitView.getInt32(o + 28, true);
      const w2 = hitView.getInt32(o + 32, true);
      const w3 = hitView.getInt32(o + 36, true);
      const w4 = hitView.getInt32(o + 40, true);
      if (w0 !== a0 || w1 !== a1 || w2 !== a2 || w3 !== a3 || w4 !== a4) {
        if (run > 0) service.chargeCopyHits(ip, run, runTs);
        run = 0;
        ip = ipAt(hitBytes, hitView, o + 24);
        a0 = w0;
        a1 = w1;
        a2 = w2;
        a3 = w3;
        a4 = w4;
      }
      // (Always set: a copy's slot is filled before the addon can answer from it, and the
      // records are drained before a slot is refilled or forgotten.)
      const ts = hitView.getFloat64(o, true);
      run++;
      runTs = ts;
      if (e !== undefined) service.recordCopyHit(e, ip, ts, hitView.getFloat64(o + 8, true));
    }
    if (run > 0) service.chargeCopyHits(ip, run, runTs);
    hitCount[0] = 0;
  };
  const forget = (enabled: boolean) => {
    drain();
    lib.fastClear(h, enabled);
    copies.fill(undefined);
  };
  const unswap = service.onSwap(() => forget(true));
  // A metrics collection or a query-log read publishes the records first.
  const unhold = holdsUnpublished(drain);

  lib.start(h, (count) => {
    drain();
    if (!inFlight.accepting) return;
    for (let i = 0; i < count; i++) {
      const len = at(inLens, i);
      // Answered by the addon, or empty or longer than a slot (no DNS query is): dropped,
      // counted by the addon.
      if (len <= 0) continue;
      const raw = nth(inSlots, i).subarray(0, len);
      const ip = ipOf(i);
      const n = service.tryFastInto(raw, ip, nth(outSlots, i), OUT);
      if (n > 0) {
        outLens[i] = n;
        const e = service.fastEntry;
        if (e !== undefined && service.fastClass >= 0) {
          const slot = lib.fastStore(
            h,
            i,
            service.fastClass,
            e.bytes,
            e.ttls,
            e.storedAt,
            e.expiresAt,
            e.refreshAt,
            service.fastTokens,
            service.fastRatePerMs,
            service.fastBurst,
          );
          if (slot >= 0) copies[slot] = e;
        }
      } else slow(i, len, ip);
    }
  });

  const stats = (): UdpBatchStats => {
    const [batches = 0, received = 0, sent = 0, sendErrors = 0, truncated = 0, inC = 0] =
      lib.stats(h);
    return { batches, received, sent, sendErrors, truncated, answeredInC: inC };
  };
  let closed = false;
  const untrack = trackUdpBatch(stats);

  return {
    host,
    port: bound,
    mode: "batch",
    stats,
    answeredInC: () => stats().answeredInC,
    close: (graceMs = 0) => {
      // No more answers from the copies: what they gave is logged now.
      if (!closed) {
        unswap();
        unhold();
        forget(false);
      }
      return inFlight.close(graceMs, () => {
        untrack();
        flush();
        if (!closed) {
          closed = true;
          drain();
          lib.close(h);
        }
      });
    },
  };
}

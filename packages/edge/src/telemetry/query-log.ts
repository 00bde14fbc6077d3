// The query-log ring: fixed arrays that answering code pushes into without ever waiting.
// When the shipper falls behind, the oldest records are overwritten and counted as dropped,
// so a slow or absent consumer can never slow queries down or grow memory.
//
// A slot holds either a whole record (`push`) or, for the DNS fast path, a compact one
// (`pushCompact`): a shared template with the fields that are fixed per cached answer, plus the
// per-query client, transport, time, duration and sequence number in typed arrays. Compact
// slots allocate nothing per query; they become whole records only when drained or peeked,
// off the answering path.
//
// The ring is bounded twice: by slots (`capacity`) and by the bytes its records hold
// (`maxBytes`, `edge.limits.queryLogMaxBytes`): a whole record is counted by its fields
// (cache/bytes.ts), a compact slot by its client string (its template belongs to a packet-cache
// entry, which counts it). Past either bound the oldest records go, counted as dropped.

import type { QueryLogRecord } from "@gatehouse/contract";
import { approxBytes, stringBytes } from "../dns/cache/bytes.ts";
import { at } from "../net/bytes.ts";
import { type DnsQueryEvent, publishPending, subscribeProxyEvents } from "./events.ts";

/** The fields of a record that do not change between repeats of one cached answer. */
export type RecordTemplate = Omit<
  QueryLogRecord,
  "ts" | "id" | "client" | "transport" | "durationMs"
>;

/** This thread's DNS record ids: a per-start prefix and the query's sequence number. */
const ID_PREFIX = `${Date.now().toString(36)}-`;

/** The id of the DNS query numbered `seq` (its record's, its operational line's). */
export function queryId(seq: number): string {
  return ID_PREFIX + seq.toString(36);
}

/** `edge.limits.queryLogMaxBytes` when the config says nothing: 8 MiB. */
export const QUERY_LOG_MAX_BYTES_DEFAULT = 8 * 1024 * 1024;

/** Slots the ring starts with; it doubles up to its capacity as records come in. */
export const QUERY_LOG_INITIAL_SLOTS = 1024;

export class QueryLog {
  private records: (QueryLogRecord | undefined)[];
  private templates: (RecordTemplate | undefined)[];
  private clients: (string | undefined)[];
  private transports: (string | undefined)[];
  private times: Float64Array;
  private durations: Float64Array;
  private seqs: Float64Array;
  /** Proxy slots (pushProxy): the request's id and URL (absent for a tunnel), and its bytes. */
  private ids: (string | undefined)[];
  private urls: (string | undefined)[];
  private ups: Float64Array;
  private downs: Float64Array;
  /** What each slot's record holds, as counted against `maxBytes`. */
  private charges: Uint32Array;
  /** The most slots the ring may have. */
  private readonly cap: number;
  /**
   * Slots allocated now: the ring starts small and doubles (up to `cap`) when full, so an
   * edge whose log is drained (or idle) does not hold 65,536 empty slots (some 2.5 MB of heap).
   */
  private slots: number;
  private readonly maxBytes: number;
  /** The bytes the records held now hold, as counted. */
  bytes = 0;
  private head = 0; // next write position
  private count = 0;
  /** Records overwritten before anyone drained them. */
  dropped = 0;
  /** Records ever pushed. */
  pushed = 0;

  constructor(capacity = 65_536, maxBytes = QUERY_LOG_MAX_BYTES_DEFAULT) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError("query log capacity must be a positive integer");
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
      throw new RangeError("query log maxBytes must be a positive integer");
    this.cap = capacity;
    this.maxBytes = maxBytes;
    const n = Math.min(capacity, QUERY_LOG_INITIAL_SLOTS);
    this.slots = n;
    this.charges = new Uint32Array(n);
    this.records = new Array(n).fill(undefined);
    this.templates = new Array(n).fill(undefined);
    this.clients = new Array(n).fill(undefined);
    this.transports = new Array(n).fill(undefined);
    this.times = new Float64Array(n);
    this.durations = new Float64Array(n);
    this.seqs = new Float64Array(n);
    this.ids = new Array(n).fill(undefined);
    this.urls = new Array(n).fill(undefined);
    this.ups = new Float64Array(n);
    this.downs = new Float64Array(n);
  }

  /** Double the slots (at most `cap`), the records kept in order from slot 0. */
  private grow(): void {
    const old = this.slots;
    const n = Math.min(this.cap, old * 2);
    const tail = (this.head - this.count + old) % old;
    const move = <T>(a: T[]): T[] => {
      const out: T[] = new Array(n).fill(undefined);
      for (let k = 0, j = tail; k < this.count; k++, j = j + 1 === old ? 0 : j + 1)
        out[k] = a[j] as T;
      return out;
    };
    const moveTyped = <A extends Float64Array | Uint32Array>(a: A, out: A): A => {
      out.set(a.subarray(tail, Math.min(old, tail + this.count)));
      if (tail + this.count > old) out.set(a.subarray(0, tail + this.count - old), old - tail);
      return out;
    };
    this.records = move(this.records);
    this.templates = move(this.templates);
    this.clients = move(this.clients);
    this.transports = move(this.transports);
    this.ids = move(this.ids);
    this.urls = move(this.urls);
    this.ups = moveTyped(this.ups, new Float64Array(n));
    this.downs = moveTyped(this.downs, new Float64Array(n));
    this.times = moveTyped(this.times, new Float64Array(n));
    this.durations = moveTyped(this.durations, new Float64Array(n));
    this.seqs = moveTyped(this.seqs, new Float64Array(n));
    this.charges = moveTyped(this.charges, new Uint32Array(n));
    this.slots = n;
    this.head = this.count;
  }

  get capacity(): number {
    return this.cap;
  }
  get size(): number {
    return this.count;
  }

  push(record: QueryLogRecord): void {
    const i = this.advance(8 + approxBytes(record));
    this.records[i] = record;
    this.templates[i] = undefined;
    this.clients[i] = undefined;
    this.ids[i] = undefined;
  }

  /**
   * Keep a finished proxy request or tunnel as a compact slot: `template` (shared by requests
   * that differ only in the fields given here) and the request's own fields in columns. What a
   * slot keeps until the shipper takes it is a few references and numbers, not a record object
   * per request (which, kept for a second, outlived the young generation: copied twice, then
   * collected with the old one). Read back as the same record (key order aside).
   */
  pushProxy(
    template: RecordTemplate,
    record: QueryLogRecord,
    bytesUp: number,
    bytesDown: number,
    templateBytes = approxBytes(template),
  ): void {
    // Counted as the whole record would be (approxBytes): the template's fields, counted once
    // when it was made, plus the request's own.
    const i = this.advance(8 + templateBytes + perRequestBytes(record, bytesUp, bytesDown));
    this.records[i] = undefined;
    this.templates[i] = template;
    this.clients[i] = record.client;
    this.transports[i] = record.transport;
    this.times[i] = record.ts;
    this.durations[i] = record.durationMs;
    this.ids[i] = record.id;
    this.urls[i] = record.url;
    this.ups[i] = bytesUp;
    this.downs[i] = bytesDown;
  }

  /**
   * Push a record made of `template` plus the per-query fields, without allocating. Its id is
   * `queryId(seq)`, made when the record is read.
   */
  pushCompact(
    template: RecordTemplate,
    client: string,
    transport: string,
    ts: number,
    durationMs: number,
    seq: number,
  ): void {
    const i = this.advance(8 + stringBytes(client.length));
    this.records[i] = undefined;
    this.templates[i] = template;
    this.clients[i] = client;
    this.transports[i] = transport;
    this.times[i] = ts;
    this.durations[i] = durationMs;
    this.seqs[i] = seq;
    this.ids[i] = undefined;
  }

  /** Keep a finished DNS query (events.ts): a whole record, or a fast-path answer's compact slot. */
  dnsQuery(ev: DnsQueryEvent): void {
    if (ev.record !== undefined) this.push(ev.record);
    else this.pushCompact(ev.fields, ev.client, ev.transport, ev.ts, ev.durationMs, ev.seq);
  }

  /** The slot for a record counted as `charge` bytes, making room by dropping the oldest. */
  private advance(charge: number): number {
    while (this.count > 0 && this.bytes + charge > this.maxBytes) this.dropOldest();
    if (this.count === this.slots && this.slots < this.cap) this.grow();
    const i = this.head;
    this.head = i + 1 === this.slots ? 0 : i + 1;
    this.pushed++;
    if (this.count === this.slots) {
      this.dropped++;
      this.bytes -= at(this.charges, i);
    } else this.count++;
    this.charges[i] = charge;
    this.bytes += charge;
    return i;
  }

  private dropOldest(): void {
    const tail = (this.head - this.count + this.slots) % this.slots;
    this.bytes -= at(this.charges, tail);
    this.records[tail] = undefined;
    this.templates[tail] = undefined;
    this.clients[tail] = undefined;
    this.ids[tail] = undefined;
    this.urls[tail] = undefined;
    this.count--;
    this.dropped++;
  }

  private at(i: number): QueryLogRecord {
    const r = this.records[i];
    if (r) return r;
    // A compact slot: the fields pushCompact wrote. A slot with neither is a ring bug.
    const template = this.templates[i];
    const client = this.clients[i];
    const transport = this.transports[i];
    const ts = this.times[i];
    const seq = this.seqs[i];
    const durationMs = this.durations[i];
    if (
      template === undefined ||
      client === undefined ||
      transport === undefined ||
      ts === undefined ||
      seq === undefined ||
      durationMs === undefined
    )
      throw new RangeError(`query log slot ${i} holds no record`);
    const id = this.ids[i];
    if (id !== undefined) {
      // A proxy slot (pushProxy).
      const rec = { ...template, ts, id, client, transport, durationMs } as QueryLogRecord;
      rec.bytesUp = this.ups[i] ?? 0;
      rec.bytesDown = this.downs[i] ?? 0;
      const url = this.urls[i];
      if (url !== undefined) rec.url = url;
      return rec;
    }
    return { ...template, ts, id: queryId(seq), client, transport, durationMs } as QueryLogRecord;
  }

  /** Remove and return up to `max` records, oldest first. */
  drain(max = this.cap): QueryLogRecord[] {
    publishPending();
    const n = Math.min(max, this.count);
    const out: QueryLogRecord[] = new Array(n);
    const cap = this.slots;
    let tail = (this.head - this.count + cap) % cap;
    for (let i = 0; i < n; i++) {
      out[i] = this.at(tail);
      this.records[tail] = undefined;
      this.templates[tail] = undefined;
      this.clients[tail] = undefined;
      this.ids[tail] = undefined;
      this.urls[tail] = undefined;
      this.bytes -= at(this.charges, tail);
      tail = tail + 1 === cap ? 0 : tail + 1;
    }
    this.count -= n;
    return out;
  }

  /** The newest `max` records without removing them, newest first (for local inspection). */
  peekNewest(max = 100): QueryLogRecord[] {
    publishPending();
    const n = Math.min(max, this.count);
    const out: QueryLogRecord[] = [];
    const cap = this.slots;
    for (let i = 1; i <= n; i++) out.push(this.at((this.head - i + cap) % cap));
    return out;
  }
}

/** Keep `origin`'s finished proxy requests and tunnels (telemetry/events.ts) in `log` until the
 * returned function is called. */
export function subscribeProxyQueryLog(log: QueryLog, origin: object): () => void {
  const templates = new ProxyTemplates();
  return subscribeProxyEvents((ev) => {
    if (ev.origin !== origin) return;
    const r = ev.record;
    const up = r.bytesUp;
    const down = r.bytesDown;
    if (up === undefined || down === undefined) log.push(r);
    else {
      const t = templates.of(r);
      log.pushProxy(t, r, up, down, templates.lastBytes);
    }
  });
}

/** A proxy record's fields kept per request (pushProxy's columns), not in its template. */
function perRequest(k: string): boolean {
  switch (k) {
    case "ts":
    case "id":
    case "client":
    case "transport":
    case "durationMs":
    case "bytesUp":
    case "bytesDown":
    case "url":
      return true;
    default:
      return false;
  }
}

/**
 * What a proxy record's per-request fields (perRequest) add to its template in approxBytes's
 * count: 4 a field plus its value. Per request, instead of walking the whole record.
 */
export function perRequestBytes(r: QueryLogRecord, bytesUp: number, bytesDown: number): number {
  let n =
    7 * 4 +
    approxBytes(r.ts) +
    stringBytes(r.id.length) +
    stringBytes(r.client.length) +
    stringBytes(r.transport.length) +
    approxBytes(r.durationMs) +
    approxBytes(bytesUp) +
    approxBytes(bytesDown);
  if (r.url !== undefined) n += 4 + stringBytes(r.url.length);
  return n;
}

/** How many templates a proxy's query log reuses (the most recent ones it made). */
const PROXY_TEMPLATES = 16;

/**
 * The templates of recent proxy records: requests that differ only in their own fields (time,
 * id, URL, bytes, the client's address) share one. Most requests repeat one of a few recent
 * decisions (same host, policy, status, origin address).
 */
class ProxyTemplates {
  readonly #recent: (RecordTemplate | undefined)[] = new Array(PROXY_TEMPLATES).fill(undefined);
  /** Fields per template (those of the record it was made from, less the per-request ones). */
  readonly #sizes = new Uint16Array(PROXY_TEMPLATES);
  /** Each template's approxBytes, counted when it was made. */
  readonly #bytes = new Uint32Array(PROXY_TEMPLATES);
  #next = 0;
  /** approxBytes of the template `of` returned last. */
  lastBytes = 0;

  of(r: QueryLogRecord): RecordTemplate {
    for (let i = 0; i < PROXY_TEMPLATES; i++) {
      const t = this.#recent[i];
      if (t !== undefined && sameFixedFields(t, at(this.#sizes, i), r)) {
        this.lastBytes = at(this.#bytes, i);
        return t;
      }
    }
    const t: Record<string, unknown> = {};
    let n = 0;
    for (const k in r) {
      if (perRequest(k)) continue;
      const v = (r as unknown as Record<string, unknown>)[k];
      if (v === undefined) continue;
      t[k] = v;
      n++;
    }
    const i = this.#next;
    this.#next = i + 1 === PROXY_TEMPLATES ? 0 : i + 1;
    this.#recent[i] = t as RecordTemplate;
    this.#sizes[i] = n;
    const bytes = approxBytes(t);
    this.#bytes[i] = bytes;
    this.lastBytes = bytes;
    return t as RecordTemplate;
  }
}

/** `r`'s fields other than the per-request ones are `t`'s `size` fields, with the same values. */
function sameFixedFields(t: RecordTemplate, size: number, r: QueryLogRecord): boolean {
  const tv = t as unknown as Record<string, unknown>;
  let n = 0;
  for (const k in r) {
    if (perRequest(k)) continue;
    const v = (r as unknown as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (tv[k] !== v) return false;
    n++;
  }
  return n === size;
}

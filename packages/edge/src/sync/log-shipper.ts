// Ships query-log records from the edge's ring to control: at most every second or every 5,000
// records, as one gzip NDJSON batch with an id (POST /api/v1/edge/logs). Delivery is
// at-least-once: control drops a batch id it has seen. When control cannot be reached, batches
// go to a bounded on-disk spool in the data directory and are sent in order once it returns.
//
// When the spool cannot take a batch — it reached its size bound, or the disk is full (ENOSPC,
// EDQUOT), or the write failed otherwise — the spool keeps what it holds (the oldest records,
// from the start of the outage, delivered first when control returns) and the new batch is
// dropped. Every record given up is counted in gatehouse_edge_log_records_dropped_total by
// reason (every reason's series exists from the start, at 0) and said in the log (at most one
// line per reason a minute, with the count since the last line). A failed write leaves no
// partial file behind, and start() removes what a killed process left (temporary files, empty
// batches).

import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { Counter, Gauge, type Registry } from "../telemetry/prom-client.ts";
import type { QueryLog } from "../telemetry/query-log.ts";
import { registryMetric } from "../telemetry/registry-metric.ts";
import { ATOMIC_TMP, writeFileAtomic } from "./atomic-file.ts";

const gzipAsync = promisify(gzip);

export interface LogShipperOptions {
  readonly controlUrl: string;
  /** The edge credential; undefined until enrolled (records wait in the ring meanwhile). */
  readonly credential: () => string | undefined;
  readonly queryLog: QueryLog;
  /** Spool directory (in the edge's data directory). */
  readonly spoolDir: string;
  readonly registry: Registry;
  readonly maxSpoolBytes?: number;
  readonly flushIntervalMs?: number;
  readonly maxBatchRecords?: number;
  readonly log?: (line: string) => void;
  /**
   * Writes one spool file (default: writeFileAtomic, mode 0600). Tests inject failures (ENOSPC)
   * here; a writer that fails may leave a `*.tmp` file, which the shipper removes.
   */
  readonly writeSpoolFile?: (path: string, data: Uint8Array) => Promise<void>;
}

/** Why records were given up (the `reason` label of gatehouse_edge_log_records_dropped_total). */
export const LOG_DROP_REASONS = [
  /** The spool reached maxSpoolBytes. */
  "spool_full",
  /** The spool's filesystem is full (ENOSPC) or the quota is used up (EDQUOT). */
  "disk_full",
  /** Writing the spool file failed otherwise (permissions, I/O error). */
  "spool_write_failed",
  /** A spooled batch could not be read back, or was empty. */
  "spool_corrupt",
  /** Control refused the batch as malformed (400, 413, 422): resending cannot help. */
  "rejected",
] as const;
type LogDropReason = (typeof LOG_DROP_REASONS)[number];

/** At most one log line per drop reason per this interval (the next one carries the count). */
const DROP_LOG_INTERVAL_MS = 60_000;

interface SpooledBatch {
  readonly file: string;
  readonly id: string;
  readonly records: number;
  readonly bytes: number;
}

const SPOOL_FILE = /^(\d{12})-(\d+)-([A-Za-z0-9_.:-]+)\.ndjson\.gz$/;

/** The log shipper's metrics on `registry` (created once per registry). */
export function logShipperMetrics(r: Registry): {
  readonly shipped: Counter;
  readonly dropped: Counter<"reason">;
  readonly spool: Gauge;
  readonly maxSpool: Gauge;
} {
  const shipped = registryMetric(
    r,
    "gatehouse_edge_log_records_shipped_total",
    () =>
      new Counter({
        name: "gatehouse_edge_log_records_shipped_total",
        help: "Query-log records acknowledged by control",
        registers: [r],
      }),
  );
  const dropped = registryMetric(
    r,
    "gatehouse_edge_log_records_dropped_total",
    () =>
      new Counter({
        name: "gatehouse_edge_log_records_dropped_total",
        help: "Query-log records given up, by reason: spool_full, disk_full, spool_write_failed, spool_corrupt, rejected",
        labelNames: ["reason"] as const,
        registers: [r],
      }),
  );
  // Every series exists from the start, so a dashboard or alert sees 0, not no data.
  for (const reason of LOG_DROP_REASONS) dropped.inc({ reason }, 0);
  const spool = registryMetric(
    r,
    "gatehouse_edge_log_spool_bytes",
    () =>
      new Gauge({
        name: "gatehouse_edge_log_spool_bytes",
        help: "Bytes of query-log batches waiting on disk",
        registers: [r],
      }),
  );
  const maxSpool = registryMetric(
    r,
    "gatehouse_edge_log_spool_max_bytes",
    () =>
      new Gauge({
        name: "gatehouse_edge_log_spool_max_bytes",
        help: "Size bound of the query-log spool",
        registers: [r],
      }),
  );
  return { shipped, dropped, spool, maxSpool };
}

export class LogShipper {
  readonly #o: LogShipperOptions;
  readonly #maxSpool: number;
  readonly #maxBatch: number;
  readonly #stop = new AbortController();
  #spool: SpooledBatch[] = [];
  #spoolBytes = 0;
  #seq = 0;
  #loop: Promise<void> | undefined;
  /** The flush in progress: flushes run one at a time (two would send the spool's head twice). */
  #flushing: Promise<void> = Promise.resolve();
  readonly #prefix = randomBytes(4).toString("hex");
  readonly #shipped: Counter;
  readonly #dropped: Counter<"reason">;
  readonly #spoolGauge: Gauge;
  readonly #write: (path: string, data: Uint8Array) => Promise<void>;
  /** Per reason: when it was last logged and the records dropped since. */
  readonly #dropLog = new Map<LogDropReason, { at: number; since: number }>();

  constructor(opts: LogShipperOptions) {
    this.#o = opts;
    this.#maxSpool = opts.maxSpoolBytes ?? 256 * 1024 * 1024;
    this.#maxBatch = opts.maxBatchRecords ?? 5000;
    this.#write = opts.writeSpoolFile ?? ((path, data) => writeFileAtomic(path, data, 0o600));
    const m = logShipperMetrics(opts.registry);
    this.#shipped = m.shipped;
    this.#dropped = m.dropped;
    this.#spoolGauge = m.spool;
    m.maxSpool.set(this.#maxSpool);
  }

  /** Pick up batches a previous run left in the spool, then ship every interval. */
  async start(): Promise<void> {
    await mkdir(this.#o.spoolDir, { recursive: true });
    const all = await readdir(this.#o.spoolDir);
    // Partial files of a process killed mid-write (or of a full disk before this version).
    await this.#removeTemporaryFiles(all);
    for (const name of all.sort()) {
      const [, seq, records, id] = SPOOL_FILE.exec(name) ?? [];
      if (seq === undefined || records === undefined || id === undefined) continue;
      const bytes = (await stat(join(this.#o.spoolDir, name))).size;
      if (bytes === 0) {
        this.#drop("spool_corrupt", Number(records), `${name} is empty`);
        await rm(join(this.#o.spoolDir, name), { force: true });
        continue;
      }
      this.#spool.push({ file: name, id, records: Number(records), bytes });
      this.#spoolBytes += bytes;
      this.#seq = Math.max(this.#seq, Number(seq));
    }
    this.#spoolGauge.set(this.#spoolBytes);
    this.#loop = this.#run();
  }

  /** Stop: what is still in the ring is shipped or spooled (bounded by one attempt). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await this.flush(true);
  }

  get spooled(): { batches: number; bytes: number } {
    return { batches: this.#spool.length, bytes: this.#spoolBytes };
  }

  async #run(): Promise<void> {
    const interval = this.#o.flushIntervalMs ?? 1000;
    while (!this.#stop.signal.aborted) {
      await sleep(interval, this.#stop.signal, () => this.#o.queryLog.size >= this.#maxBatch);
      if (this.#stop.signal.aborted) return;
      try {
        await this.flush(false);
      } catch (e) {
        this.#o.log?.(`gatehouse edge: query-log shipping failed: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Take what the ring holds (in batches) and deliver or spool it; then retry the spool. Safe to
   * call at any time (e.g. when the edge drains): it waits for a flush already running.
   */
  flush(final: boolean): Promise<void> {
    const next = this.#flushing.then(() => this.#flushOnce(final));
    this.#flushing = next.catch(() => {});
    return next;
  }

  async #flushOnce(final: boolean): Promise<void> {
    for (;;) {
      if (this.#o.queryLog.size === 0) break;
      const records = this.#o.queryLog.drain(this.#maxBatch);
      const ndjson = `${records.map((r) => JSON.stringify(r)).join("\n")}\n`;
      const body = await gzipAsync(ndjson);
      const id = `${this.#prefix}-${Date.now().toString(36)}-${(++this.#seq).toString(36)}`;
      // Order matters: while older batches wait in the spool, new ones queue behind them.
      if (this.#spool.length === 0 && (await this.#send(id, body, records.length)) !== "retry")
        continue;
      await this.#toSpool(id, body, records.length);
      if (final) continue;
    }
    await this.#drainSpool(final);
  }

  /** Spool a batch, or drop it (counted, logged) when the spool or its disk cannot take it. */
  async #toSpool(id: string, body: Buffer, records: number): Promise<void> {
    if (this.#spoolBytes + body.length > this.#maxSpool) {
      this.#drop(
        "spool_full",
        records,
        `the spool holds ${this.#spoolBytes} of ${this.#maxSpool} bytes`,
      );
      return;
    }
    const file = `${String(this.#seq).padStart(12, "0")}-${records}-${id}.ndjson.gz`;
    try {
      await this.#write(join(this.#o.spoolDir, file), body);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const full = err.code === "ENOSPC" || err.code === "EDQUOT";
      this.#drop(full ? "disk_full" : "spool_write_failed", records, err.message);
      // Whatever the failed write left (and a partial file of the target itself).
      await rm(join(this.#o.spoolDir, file), { force: true }).catch(() => {});
      await this.#removeTemporaryFiles();
      return;
    }
    this.#spool.push({ file, id, records, bytes: body.length });
    this.#spoolBytes += body.length;
    this.#spoolGauge.set(this.#spoolBytes);
  }

  async #drainSpool(final: boolean): Promise<void> {
    for (let b = this.#spool[0]; b !== undefined; b = this.#spool[0]) {
      const path = join(this.#o.spoolDir, b.file);
      let body: Buffer;
      try {
        body = await readFile(path);
      } catch {
        body = Buffer.alloc(0);
      }
      const outcome = body.length === 0 ? "dropped" : await this.#send(b.id, body, b.records);
      if (outcome === "retry") return;
      if (body.length === 0)
        this.#drop("spool_corrupt", b.records, `${b.file} could not be read or is empty`);
      this.#spool.shift();
      this.#spoolBytes -= b.bytes;
      this.#spoolGauge.set(this.#spoolBytes);
      await rm(path, { force: true });
      if (final && this.#stop.signal.aborted && outcome !== "sent") return;
    }
  }

  /** sent: acknowledged; dropped: control refused it as malformed (retrying cannot help). */
  async #send(id: string, body: Buffer, records: number): Promise<"sent" | "dropped" | "retry"> {
    const credential = this.#o.credential();
    if (!credential) return "retry";
    try {
      const res = await fetch(`${this.#o.controlUrl.replace(/\/+$/, "")}/api/v1/edge/logs`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${credential}`,
          "content-type": "application/x-ndjson",
          "content-encoding": "gzip",
          "x-batch-id": id,
        },
        body: new Uint8Array(body),
        signal: AbortSignal.timeout(15_000),
      });
      await res.body?.cancel();
      if (res.ok) {
        this.#shipped.inc(records);
        return "sent";
      }
      if (res.status === 400 || res.status === 413 || res.status === 422) {
        this.#drop("rejected", records, `control answered ${res.status} to batch ${id}`);
        return "dropped";
      }
      return "retry";
    } catch {
      return "retry";
    }
  }

  /** Count a drop; log it at once, then at most once a minute per reason with the count since. */
  #drop(reason: LogDropReason, records: number, detail: string): void {
    this.#dropped.inc({ reason }, records);
    const now = Date.now();
    const last = this.#dropLog.get(reason);
    if (last && now - last.at < DROP_LOG_INTERVAL_MS) {
      last.since += records;
      return;
    }
    const total = records + (last?.since ?? 0);
    this.#dropLog.set(reason, { at: now, since: 0 });
    this.#o.log?.(
      `gatehouse edge: dropped ${total} query-log records (${reason}: ${detail})` +
        (last ? ` since ${new Date(last.at).toISOString()}` : ""),
    );
  }

  /** Remove writeFileAtomic's temporary files from the spool directory. */
  async #removeTemporaryFiles(names?: readonly string[]): Promise<void> {
    let list = names;
    if (!list) {
      try {
        list = await readdir(this.#o.spoolDir);
      } catch {
        return;
      }
    }
    for (const n of list)
      if (ATOMIC_TMP.test(n)) await rm(join(this.#o.spoolDir, n), { force: true }).catch(() => {});
  }
}

function sleep(ms: number, signal: AbortSignal, early: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const started = Date.now();
    // Check for a full batch often, so a burst ships before the interval ends.
    const t = setInterval(
      () => {
        if (signal.aborted || early() || Date.now() - started >= ms) done();
      },
      Math.min(100, ms),
    );
    function done() {
      clearInterval(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
